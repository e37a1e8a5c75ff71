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
    from depthrefine.markers.markersets import load_markerset

    return load_markerset(REPO / "config" / "markersets" / "opencap.yaml")


def unpack(archive: Path, members: list[str], into: Path) -> list[Path]:
    """Some members of a shared archive, extracted under ``into`` (never into the checkout)."""
    import tarfile

    with tarfile.open(archive) as tf:
        tf.extractall(into, members=[tf.getmember(m) for m in members], filter="data")
    return [into / m for m in members]


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


def tiny_model_config(**overrides) -> dict:
    """The config's model section (schema defaults), shrunk for tests."""
    from depthrefine.settings import config_section

    return config_section("model", {"window": 11, "heads": 2, "layers": 1, "dim": 32, "dropout": 0.0, **overrides})


def tiny_train_config(**overrides) -> dict:
    """The config's train section (schema defaults) with seed and loss weights, shrunk for tests."""
    from depthrefine.settings import config_section, defaults

    small = {
        "epochs": 1,
        "batch_size": 64,
        "num_workers": 0,
        "max_windows_per_epoch": 640,
        "warmup_steps": 5,
        "val_stride": 8,
    }
    seed = overrides.pop("seed", 3)
    return {**config_section("train", {**small, **overrides}), "seed": seed, "loss_weights": defaults()["loss_weights"]}


TINY_MODEL = tiny_model_config()
TINY_TRAIN = tiny_train_config()


@pytest.fixture(scope="session")
def small_shards(tmp_path_factory, data_dir):
    """Real shards (opencap markers, 2 variants) of five CMU files, with a manifest."""
    from depthrefine.markers.stages import build_shard_set

    return build_shard_set(
        data_dir,
        SMALL_SPLIT,
        tmp_path_factory.mktemp("small"),
        seed=5,
        markerset_path=str(REPO / "config/markersets/opencap.yaml"),
        corruption={"variants": 2, "flip_limbs": ["left_shank", "right_shank"]},
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, small_shards):
    from depthrefine.model.train import train

    run = tmp_path_factory.mktemp("tiny_run")
    train(
        manifest_path=str(small_shards),
        markerset_path=str(REPO / "config/markersets/opencap.yaml"),
        model_cfg=TINY_MODEL,
        train_cfg=TINY_TRAIN,
        run_dir=str(run),
    )
    return run / "best.pt"
