"""The mocap stage: one BVH file, or one AMC with its ASF, → joint trajectories at the
workflow's frame rate (Parquet)."""

from __future__ import annotations

import logging

from depthrefine import tables
from depthrefine.errors import DataError
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample

log = logging.getLogger(__name__)


def read_motion(path: str, *, unit_m: float, drop_first, asf: str | None = None, amc_fps: float = 120.0):
    """Joint trajectories at the file's own rate: a BVH, or an AMC on its ASF ``asf``."""
    if path.lower().endswith(".amc"):
        from depthrefine.mocap.asf_amc import amc_to_joints, read_amc, read_asf

        if not asf:
            raise DataError(path, "an AMC file needs its ASF skeleton (none found; see the source's asf setting)")
        skeleton = read_asf(asf)
        return amc_to_joints(skeleton, read_amc(path, skeleton), amc_fps, unit_m)
    return bvh_to_joints(read_bvh(path), unit_m=unit_m, drop_first=drop_first)


def kinematics_stage(
    bvh_path: str,
    out_path: str,
    *,
    source: str,
    fps: float,
    unit_m: float,
    drop_first,
    min_frames: int,
    skeleton_map: str | None = None,
    asf: str | None = None,
    amc_fps: float = 120.0,
) -> dict:
    """``bvh_path``: a BVH, or an AMC with ``asf`` its skeleton (``amc_fps`` its rate).
    ``skeleton_map``: a map in config/skeletons/; when given, the clip's segment lengths
    must be a person's (a wrong ``unit_m`` or map fails here, naming the file). Returns the
    clip's frames at ``fps`` and its segment lengths (m; empty without a map)."""
    raw = read_motion(bvh_path, unit_m=unit_m, drop_first=drop_first, asf=asf, amc_fps=amc_fps)
    traj = resample(raw, fps)
    if skeleton_map:
        from depthrefine.mocap.skeleton_map import body_points, cached_skeleton_map, check_segment_lengths

        smap = cached_skeleton_map(skeleton_map)
        joints = {name: traj.positions_m[:, j] for j, name in enumerate(traj.names)}
        hint = f" (unit_m = {unit_m:g} m per file unit; {smap.path})"
        lengths = check_segment_lengths(body_points(joints, smap, bvh_path), bvh_path, hint)
    n = traj.positions_m.shape[0]
    if n < min_frames:
        raise DataError(
            bvh_path,
            f"{n} frames at {fps:g} fps after resampling; expected at least {min_frames} (kinematics.min_frames)",
        )
    log.info("%s: %d frames at %.4g fps -> %d frames at %g fps", bvh_path, raw.positions_m.shape[0], raw.fps, n, fps)
    tables.write_joints(traj, out_path, source=source)
    return {"frames": n, "segments_m": lengths if skeleton_map else {}}
