"""The mocap stage: one BVH file → joint trajectories at the workflow's frame rate (Parquet)."""

from __future__ import annotations

import logging

from depthrefine import tables
from depthrefine.errors import DataError
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample

log = logging.getLogger(__name__)


def kinematics_stage(
    bvh_path: str, out_path: str, *, source: str, fps: float, unit_m: float, drop_first, min_frames: int
) -> None:
    motion = read_bvh(bvh_path)
    traj = resample(bvh_to_joints(motion, unit_m=unit_m, drop_first=drop_first), fps)
    n = traj.positions_m.shape[0]
    if n < min_frames:
        raise DataError(
            bvh_path,
            f"{n} frames at {fps:g} fps after resampling; expected at least {min_frames} (kinematics.min_frames)",
        )
    log.info("%s: %d frames at %.4g fps -> %d frames at %g fps", bvh_path, motion.num_frames, motion.fps, n, fps)
    tables.write_joints(traj, out_path, source=source)
