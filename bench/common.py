"""Shared set-up for the benchmarks: real shards of a few CMU files in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TRIALS = {
    "cmu-bvh/actions/train_walking_1": "train",
    "cmu-bvh/actions/train_running_2": "train",
    "cmu-bvh/actions/train_basketball_1": "train",
    "cmu-bvh/actions/train_soccer_2": "train",
    "cmu-bvh/actions/train_walking_2": "val",
    "cmu-bvh/actions/test_walking_1": "test",
}


def build_shards(root: Path, data: Path = DATA) -> Path:
    from depthrefine.markers.stages import build_shard_set

    return build_shard_set(
        data,
        TRIALS,
        root,
        seed=1,
        markerset_path=str(REPO / "config/markersets/opencap.yaml"),
        corruption={"variants": 4, "flip_limbs": ["LeftLeg", "RightLeg"]},
    )


def default_model_config() -> dict:
    """The config's model section as the schema's defaults give it."""
    from depthrefine.settings import config_section

    return config_section("model")


def markers(manifest: Path) -> list[str]:
    return json.loads(manifest.read_text())["markers"]
