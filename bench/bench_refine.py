"""Inference speed: refining one minute of 60 fps markers on the CPU with the default model.

    python bench/bench_refine.py [--threads 2]

Target: 3,600 frames (one minute of phone video) in under 1 s on 2 cores. Uses the
configured model size (config/config.yaml `model`) with untrained weights: speed does not
depend on the weights. Last line: ``frames_per_s=<x>``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, build_shards, default_model_config

from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import load_markerset
from depthrefine.model.dataset import read_shard_clips
from depthrefine.model.network import DepthRefiner, ModelConfig
from depthrefine.model.refine import LoadedModel, refine_sequence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = build_shards(Path(tmp))
        import json

        test = next(e["path"] for e in json.loads(manifest.read_text())["shards"] if e["split"] == "test")
        clips, names = read_shard_clips(test)
    observed = np.concatenate([c.observed for c in clips])
    observed = np.concatenate([observed] * (3600 // len(observed) + 1))[:3600]  # one minute at 60 fps
    index = MarkerIndex.from_markerset(load_markerset(REPO / "config/markersets/opencap.yaml"), names)
    cfg = ModelConfig.from_dict({**default_model_config(), "num_markers": len(names)})
    loaded = LoadedModel(
        DepthRefiner(cfg).eval(), index, cfg.window, torch.device("cpu"), "untrained", 60.0, cfg.input_lowpass_hz
    )
    refine_sequence(loaded, observed[:600], fps=60.0)  # warm-up
    print(f"model: window {cfg.window}, {cfg.layers} layers, dim {cfg.dim}; {args.threads} CPU threads")
    print("  one minute at 60 fps (3,600 frames), target < 1 s:")
    rates = {}
    for stride in (1, (cfg.window + 1) // 2, cfg.window):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            refine_sequence(loaded, observed, fps=60.0, stride=stride)
            times.append(time.perf_counter() - start)
        best = min(times)
        rates[stride] = 3600 / best
        label = "centre frame of every window" if stride == 1 else f"windows every {stride} frames, blended"
        print(f"    stride {stride:>2} ({label}): {best:.2f} s -> {'met' if best < 1 else 'NOT met'}")
    print(f"frames_per_s={rates[(cfg.window + 1) // 2]:.1f}")  # the default stride


if __name__ == "__main__":
    main()
