"""Per-recording speed on the CPU: seconds per video minute for pose estimation, and for
refinement + report, on the two real videos in ../shared/data/videos.

    python bench/bench_recording.py [--threads 2] [--model results/model/blazepose/best.pt]

Pose estimation: MediaPipe BlazePose (full) over every frame, following one person, as the
workflow runs it (``recording_markers``). Refinement + report: the workflow's
``refine_recording`` and ``recording_report`` steps on one minute of those markers (the
clip repeated back and forth to 3,600 frames at 60 fps). Without --model, an untrained model
of the configured size (config/config.yaml `model`) stands in: speed does not depend on the
weights. Each line compares with real time (video duration); last line:
``pose_s_per_min=<x> refine_report_s_per_min=<y>``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import DATA, REPO, default_model_config

from depthrefine.capture.pose import video_info
from depthrefine.capture.recording import markers_from_video, refine_markers
from depthrefine.evaluation.recording_report import evaluate_recording
from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import load_markerset
from depthrefine.model.network import DepthRefiner, ModelConfig
from depthrefine.tables import read_observations, write_observations

BLAZEPOSE = REPO / "config" / "markersets" / "blazepose.yaml"
POSE_MODEL = DATA.parent / "models" / "pose_landmarker_full.task"


def untrained_checkpoint(path: Path) -> None:
    ms = load_markerset(BLAZEPOSE)
    cfg = ModelConfig.from_dict({**default_model_config(), "num_markers": len(ms.names)})
    torch.save(
        {
            "model": DepthRefiner(cfg).state_dict(),
            "config": {"model": cfg.to_dict(), "index": MarkerIndex.from_markerset(ms).to_dict(), "fps": 60.0},
        },
        path,
    )


def one_minute(markers: Path, out: Path) -> None:
    observed, _, table, meta = read_observations(markers)
    back_and_forth = np.concatenate([observed, observed[::-1]])
    minute = np.concatenate([back_and_forth] * (3600 // len(back_and_forth) + 1))[:3600]
    ms = load_markerset(BLAZEPOSE)
    write_observations(
        out,
        minute,
        clip_id="minute",
        source=str(markers),
        fps=60.0,
        markers=ms.names,
        segments=ms.segments,
        markerset_name=ms.name,
        filled=np.zeros(3600, bool),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    pose_rates, refine_rates = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or tmp / "untrained.pt"
        if args.model is None:
            untrained_checkpoint(model)
        print(f"{args.threads} CPU threads; model {'untrained, configured size' if args.model is None else model}")
        for video in sorted((DATA / "videos").glob("*.mp4")):
            fps, frames, width, height = video_info(video)
            minutes = frames / fps / 60
            start = time.perf_counter()
            markers_from_video(
                str(video),
                str(POSE_MODEL),
                str(BLAZEPOSE),
                str(tmp / "m.parquet"),
                str(tmp / "m.trc"),
                str(tmp / "m.png"),
                fps=60.0,
                gap_fill_s=0.2,
            )
            pose = (time.perf_counter() - start) / minutes
            one_minute(tmp / "m.parquet", tmp / "minute.parquet")
            start = time.perf_counter()
            refine_markers(str(tmp / "minute.parquet"), str(model), str(tmp / "r.parquet"), str(tmp / "r.trc"))
            evaluate_recording(
                str(tmp / "r.parquet"),
                str(BLAZEPOSE),
                str(tmp / "r.json"),
                str(tmp / "r.html"),
                str(tmp / "m.png"),
                name="minute",
            )
            refine = time.perf_counter() - start
            pose_rates.append(pose)
            refine_rates.append(refine)
            print(f"  {video.name} ({width}×{height}, {fps:g} fps, {frames} frames):")
            print(f"    pose estimation    {pose:6.1f} s per video minute ({60 / pose:.2f}× real time)")
            print(f"    refinement+report  {refine:6.1f} s per video minute ({60 / refine:.1f}× real time)")
    print(f"pose_s_per_min={np.mean(pose_rates):.1f} refine_report_s_per_min={np.mean(refine_rates):.1f}")


if __name__ == "__main__":
    main()
