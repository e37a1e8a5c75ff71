"""Refining a minute of 60 fps video with the bone fit, against refinement alone.

    python bench/bench_bonefit.py [--threads 2]

Issue 11's target: one minute (3,600 frames of the 18 BlazePose markers), learned refinement,
the lean nearer upright (the camera's up known), the size from the floor (its height known)
and bone-length fit together, under 5 s on
2 cores; baseline: refinement alone (0.9 s when the issue was written). Input: a CMU walk as
BlazePose markers 5–7 m in front of a camera, its depth disturbed by 50 mm, on exact rays;
the default model size, untrained (speed does not depend on the weights). Last line:
``bone_fit_s=<x> refine_s=<y> ratio=<x/y>``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import DATA, REPO, default_model_config

from depthrefine.capture.bonefit import bone_fit
from depthrefine.capture.floor import STANCE_MARKER_HEIGHT_M, scale_to_floor
from depthrefine.capture.rays import on_rays
from depthrefine.capture.upright import nearer_upright
from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import joints_to_markers, load_markerset
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample
from depthrefine.model.network import DepthRefiner, ModelConfig
from depthrefine.model.refine import LoadedModel, refine_sequence


def one_minute(ms) -> tuple[np.ndarray, np.ndarray, float]:
    """(hip-centred markers with noisy depth, rays) of 3,600 frames, and the camera's height
    above the floor (the lowest foot marker's lowest point, less the stance marker's height)."""
    traj = resample(bvh_to_joints(read_bvh(DATA / "cmu-bvh/01_01.bvh")), 60)
    world = joints_to_markers(traj, ms)
    world = np.concatenate([world] * (3600 // len(world) + 1))[:3600]
    world -= world.mean(axis=(0, 1))
    camera = np.stack([world[..., 0], 0.9 - world[..., 1], 6.0 + world[..., 2]], axis=-1)
    rays = camera[..., :2] / camera[..., 2:]
    noisy = camera - camera[:, ms.names.index("midHip")][:, None]  # hip-centred, as BlazePose gives
    noisy[..., 2] += 0.05 * np.random.default_rng(0).standard_normal(noisy.shape[:2])
    feet = [ms.names.index(n) for n in ms.foot_markers]
    return noisy, rays, float(camera[:, feet, 1].max()) + STANCE_MARKER_HEIGHT_M


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ms = load_markerset(REPO / "config/markersets/blazepose.yaml")
    observed, rays, camera_height_m = one_minute(ms)
    index = MarkerIndex.from_markerset(ms, ms.names)
    cfg = ModelConfig.from_dict({**default_model_config(), "num_markers": len(ms.names)})
    loaded = LoadedModel(
        DepthRefiner(cfg).eval(), index, cfg.window, torch.device("cpu"), "untrained", 60.0, cfg.input_lowpass_hz
    )
    refine_sequence(loaded, observed[:600], fps=60.0)  # warm-up
    start = time.perf_counter()
    refined = refine_sequence(loaded, observed, fps=60.0)
    refine_s = time.perf_counter() - start
    start = time.perf_counter()
    level = [0.0, -1.0, 0.0]  # one_minute's camera is level: the world's up is its −y
    prior, _ = nearer_upright(refined, rays, ms.names, level, 60.0)  # the lean step of the chain
    placed = on_rays(prior, rays)
    placed = placed * scale_to_floor(placed, index.feet, np.array(level), camera_height_m).scale  # the floor step
    bone_fit(placed, rays, ms.segments, ms.names, 60.0)
    fit_s = time.perf_counter() - start
    total = refine_s + fit_s
    print(f"one minute at 60 fps, 18 markers, {args.threads} threads; model window {cfg.window}, dim {cfg.dim}")
    print(f"  refinement alone (baseline): {refine_s:.2f} s")
    print(f"  + lean, floor and bone fit: {fit_s:.2f} s -> {total:.2f} s in all, {total / refine_s:.1f}x the baseline")
    print(f"  target < 5 s: {'met' if total < 5 else f'NOT met (by {total - 5:.1f} s)'}")
    print(f"bone_fit_s={fit_s:.2f} refine_s={refine_s:.2f} ratio={total / refine_s:.2f}")


if __name__ == "__main__":
    main()
