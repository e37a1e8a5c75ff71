import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The read-only data beside the checkout (see ../shared/data/README.md); DEPTHREFINE_DATA overrides.
DATA = Path(os.environ.get("DEPTHREFINE_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"shared data not found at {DATA}; set DEPTHREFINE_DATA to the folder with cmu-bvh/")
    return DATA


@pytest.fixture(scope="session")
def bvh_01_01(data_dir) -> Path:
    return data_dir / "cmu-bvh" / "01_01.bvh"


@pytest.fixture(scope="session")
def opencap_set():
    from depthrefine.markersets import load_markerset

    return load_markerset(REPO / "config" / "markersets" / "opencap.yaml")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SMALL_SPLIT = {
    "cmu-bvh/actions/train_walking_1": "train",
    "cmu-bvh/actions/train_running_2": "train",
    "cmu-bvh/actions/train_jumping_4": "train",
    "cmu-bvh/actions/train_walking_2": "val",
    "cmu-bvh/actions/test_walking_1": "test",
}
TINY_MODEL = {"window": 11, "heads": 2, "layers": 1, "dim": 32, "dropout": 0.0}
TINY_TRAIN = {"epochs": 1, "batch_size": 64, "num_workers": 0, "max_windows_per_epoch": 640, "warmup_steps": 5,
              "val_stride": 8, "seed": 3}


@pytest.fixture(scope="session")
def small_shards(tmp_path_factory, data_dir):
    """Real shards (opencap markers, 2 variants) of five CMU files, with a manifest."""
    from depthrefine.stages import corruption_stage, kinematics_stage, markers_stage, shard_manifest

    root = tmp_path_factory.mktemp("small")
    shards = []
    for trial, split in SMALL_SPLIT.items():
        kinematics_stage(str(data_dir / f"{trial}.bvh"), str(root / "j" / f"{trial}.parquet"), source=f"{trial}.bvh",
                         fps=60, unit_m=0.056444, drop_first="auto", min_frames=30)
        markers_stage(str(root / "j" / f"{trial}.parquet"), str(root / "m" / f"{trial}.parquet"),
                      markerset_path=str(REPO / "config/markersets/opencap.yaml"))
        out = root / "shards" / split / f"{trial}.parquet"
        corruption_stage(str(root / "m" / f"{trial}.parquet"), str(out), trial=trial, split=split, seed=5,
                         corruption={"variants": 2, "flip_limbs": ["LeftLeg", "RightLeg"]})
        shards.append(str(out))
    shard_manifest(shards, str(root / "shards" / "manifest.json"), shards_root=str(root / "shards"), splits=SMALL_SPLIT, config={})
    return root / "shards" / "manifest.json"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, small_shards):
    from depthrefine.train import train

    run = tmp_path_factory.mktemp("tiny_run")
    train(manifest_path=str(small_shards), markerset_path=str(REPO / "config/markersets/opencap.yaml"),
          model_cfg=TINY_MODEL, train_cfg=TINY_TRAIN, run_dir=str(run))
    return run / "best.pt"
