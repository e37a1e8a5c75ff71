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
