"""Shared set-up for the benchmarks: real shards of a few CMU files in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TRIALS = {
    "cmu-bvh/actions/train_walking_1": "train", "cmu-bvh/actions/train_running_2": "train",
    "cmu-bvh/actions/train_basketball_1": "train", "cmu-bvh/actions/train_soccer_2": "train",
    "cmu-bvh/actions/train_walking_2": "val", "cmu-bvh/actions/test_walking_1": "test",
}


def build_shards(root: Path, data: Path = DATA) -> Path:
    from depthrefine.stages import corruption_stage, kinematics_stage, markers_stage, shard_manifest

    paths = []
    for trial, split in TRIALS.items():
        kinematics_stage(str(data / f"{trial}.bvh"), str(root / "j" / f"{trial}.parquet"), source=trial, fps=60,
                         unit_m=0.056444, drop_first="auto", min_frames=30)
        markers_stage(str(root / "j" / f"{trial}.parquet"), str(root / "m" / f"{trial}.parquet"),
                      markerset_path=str(REPO / "config/markersets/opencap.yaml"))
        out = root / "shards" / split / f"{trial}.parquet"
        corruption_stage(str(root / "m" / f"{trial}.parquet"), str(out), trial=trial, split=split, seed=1,
                         corruption={"variants": 4, "flip_limbs": ["LeftLeg", "RightLeg"]})
        paths.append(str(out))
    manifest = root / "shards" / "manifest.json"
    shard_manifest(paths, str(manifest), shards_root=str(root / "shards"), splits=TRIALS, config={})
    return manifest


def default_model_config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["model"]


def markers(manifest: Path) -> list[str]:
    return json.loads(manifest.read_text())["markers"]
