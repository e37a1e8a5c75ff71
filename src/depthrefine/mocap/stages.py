"""The mocap stage: one BVH file → joint trajectories at the workflow's frame rate (Parquet)."""

from __future__ import annotations

import logging

from depthrefine import tables
from depthrefine.errors import DataError
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample

log = logging.getLogger(__name__)


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
) -> None:
    """``skeleton_map``: a map in config/skeletons/; when given, the clip's segment lengths
    must be a person's (a wrong ``unit_m`` or map fails here, naming the file)."""
    motion = read_bvh(bvh_path)
    traj = resample(bvh_to_joints(motion, unit_m=unit_m, drop_first=drop_first), fps)
    if skeleton_map:
        from depthrefine.mocap.skeleton_map import body_points, check_segment_lengths, load_skeleton_map

        smap = load_skeleton_map(skeleton_map)
        joints = {name: traj.positions_m[:, j] for j, name in enumerate(traj.names)}
        hint = f" (kinematics.unit_m = {unit_m:g} m per file unit; {smap.path})"
        check_segment_lengths(body_points(joints, smap, bvh_path), bvh_path, hint)
    n = traj.positions_m.shape[0]
    if n < min_frames:
        raise DataError(
            bvh_path,
            f"{n} frames at {fps:g} fps after resampling; expected at least {min_frames} (kinematics.min_frames)",
        )
    log.info("%s: %d frames at %.4g fps -> %d frames at %g fps", bvh_path, motion.num_frames, motion.fps, n, fps)
    tables.write_joints(traj, out_path, source=source)
