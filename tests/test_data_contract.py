"""docs/data.md is the contract: its tables must match the schemas the code writes."""

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import REPO

from depthrefine.markers.stages import corruption_stage, markers_stage
from depthrefine.mocap.stages import kinematics_stage
from depthrefine.settings import config_section

DOC = (REPO / "docs" / "data.md").read_text()


def doc_table(heading: str) -> dict[str, str]:
    """column → type from the first Markdown table after a heading."""
    section = DOC.split(heading, 1)[1]
    table = section[section.index("\n| column") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (\w+) \| ([^|]+?) \|", table, re.M)
    return {name: typ.strip() for name, typ in rows if name != "column"}


def arrow_type(field, markers: int, joints: int | None = None) -> str:
    t = str(field.type)
    m = re.fullmatch(r"fixed_size_list<element: float>\[(\d+)\]", t)
    if m:
        width = int(m.group(1))
        symbol = (
            "3M"
            if width == 3 * markers
            else "3J"
            if width == 3 * joints
            else "9J"
            if width == 9 * joints
            else str(width)
        )
        return f"fixed_size_list<float>[{symbol}]"
    return t


@pytest.fixture(scope="module")
def built(tmp_path_factory, bvh_01_01):
    tmp = tmp_path_factory.mktemp("contract")
    kinematics_stage(
        str(bvh_01_01),
        str(tmp / "j.parquet"),
        source="cmu-bvh/01_01.bvh",
        fps=60,
        unit_m=0.056444,
        drop_first="auto",
        min_frames=30,
    )
    markers_stage(
        str(tmp / "j.parquet"), str(tmp / "m.parquet"), markerset_path=str(REPO / "config/markersets/opencap.yaml")
    )
    corruption_stage(
        str(tmp / "m.parquet"),
        str(tmp / "s.parquet"),
        trial="cmu-bvh/01_01",
        split="train",
        seed=1,
        corruption=config_section("corruption", {"variants": 2, "flip_limbs": ["left_shank"]}),
    )
    return tmp


def test_shard_schema_matches_the_doc(built):
    schema = pq.read_schema(built / "s.parquet")
    markers = json.loads(schema.metadata[b"markers"])
    documented = doc_table("### Shards")
    written = {f.name: arrow_type(f, len(markers)) for f in schema}
    assert written == documented
    assert list(written)[:9] == [
        "clip_id",
        "source",
        "frame",
        "fps",
        "camera_azimuth_deg",
        "camera_elevation_deg",
        "noise_mm",
        "true_xyz",
        "observed_xyz",
    ]
    segments = json.loads(schema.metadata[b"segments"])
    assert len(markers) == 63 and all(a in markers and b in markers for a, b in segments)
    for key in ("markers", "segments", "markerset", "axes"):
        assert key.encode() in schema.metadata and f"`{key}`" in DOC


def test_joint_and_marker_tables_match_the_doc(built):
    joints = pq.read_schema(built / "j.parquet")
    n_joints = len(json.loads(joints.metadata[b"joints"]))
    assert {f.name: arrow_type(f, -1, n_joints) for f in joints} == doc_table("### Joints table")
    markers = pq.read_schema(built / "m.parquet")
    n_markers = len(json.loads(markers.metadata[b"markers"]))
    assert {f.name: arrow_type(f, n_markers) for f in markers} == doc_table("### World markers table")
    for key in markers.metadata:
        assert f"`{key.decode()}`" in DOC


def test_documented_units_axes_and_rates(built):
    table = pq.read_table(built / "s.parquet")
    true = table.column("true_xyz").combine_chunks().values.to_numpy().reshape(table.num_rows, -1, 3)
    assert set(table.column("fps").to_pylist()) == {60.0}  # "default 60"
    assert "**0.056444 m**" in DOC and "x right, y down, z forward" in DOC
    assert np.all(true[:, :, 2] > 1.0)  # z is depth in front of the camera, metres
    noise = np.array(table.column("noise_mm").to_pylist())
    synthetic = np.array(table.column("variant").to_pylist()) % 2 == 0  # error_model: mixed (the default)
    assert noise[synthetic].min() >= 30 and noise[synthetic].max() <= 80  # documented default range, millimetres
    assert 20 < noise[~synthetic].min() < 300  # the fitted model's drawn RMS
    assert pq.ParquetFile(built / "s.parquet").metadata.num_row_groups == 2  # one per clip variant
