"""Recordings (video / marker files) → markers: gaps, resampling, floor, person following, bad input."""

import json

import numpy as np
import pytest
from conftest import REPO

from depthrefine.capture.floor import fit_floor
from depthrefine.capture.pose import follow_one_person, video_info
from depthrefine.capture.recording import markers_from_file, read_marker_file
from depthrefine.capture.sequence import fill_gaps, resample
from depthrefine.capture.sources import find_recordings, marker_file_markerset
from depthrefine.capture.trc import Trc, read_trc, write_trc
from depthrefine.errors import DataError
from depthrefine.evaluation.metrics import observed_metrics
from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import load_markerset
from depthrefine.tables import read_observations

BLAZEPOSE = REPO / "config" / "markersets" / "blazepose.yaml"


@pytest.fixture(scope="module")
def blazepose():
    return load_markerset(BLAZEPOSE)


def test_blazepose_set_maps_every_marker_to_landmarks(blazepose):
    assert len(blazepose.names) == 18 and blazepose.landmark_model == "blazepose"
    assert blazepose.landmarks["Neck"] == (11, 12) and blazepose.landmarks["midHip"] == (23, 24)
    assert all(0 <= i < 33 for idx in blazepose.landmarks.values() for i in idx)
    video = load_markerset(REPO / "config" / "markersets" / "video_keypoints.yaml")
    assert video.names[:18] == blazepose.names and video.landmarks is None  # not inherited: small toes have none
    assert MarkerIndex.from_markerset(blazepose).feet.size == 4


def test_a_landmark_mapping_must_cover_the_set(tmp_path):
    text = BLAZEPOSE.read_text().replace("    RBigToe: [32]", "")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(
        ValueError, match=r"bad.yaml: 'landmarks' must map exactly the set's markers \(missing \['RBigToe'\]"
    ):
        load_markerset(tmp_path / "bad.yaml")


def test_short_gaps_are_filled_and_edges_trimmed():
    t = np.arange(120) / 60
    xyz = np.stack([np.sin(t), np.cos(t), t], axis=-1)[:, None, :].repeat(2, axis=1)
    xyz[:3] = np.nan  # leading frames without a detection
    xyz[50:56, 1] = np.nan  # a 0.1 s gap in one marker
    xyz[-2:, 0] = np.nan
    out = fill_gaps(xyz, 60.0, 0.2, ["a", "b"], "clip.trc")
    assert out.xyz.shape == (115, 2, 3) and out.trimmed == {"start": 3, "end": 2} and out.first_frame == 3
    assert np.abs(out.xyz[47:53, 1] - xyz[50:56, 0]).max() < 1e-3  # PCHIP through a smooth curve: < 1 mm
    assert out.filled.sum() == 6 and out.gaps == [{"start_s": 0.8333, "frames": 6, "markers": 1}]


def test_a_long_interior_gap_is_refused_with_file_marker_and_time():
    xyz = np.zeros((200, 2, 3))
    xyz[100:130, 1] = np.nan
    with pytest.raises(DataError, match=r"walk.trc: marker 'b' is missing for 30 frames \(0.50 s\) from t = 1.67 s"):
        fill_gaps(xyz, 60.0, 0.2, ["a", "b"], "walk.trc")
    with pytest.raises(DataError, match="no frame has every marker"):
        fill_gaps(np.full((10, 2, 3), np.nan), 60.0, 0.2, ["a", "b"], "empty.mp4")


@pytest.mark.parametrize("fps_in", [30.0, 50.0, 120.0])
def test_resampling_keeps_a_slow_signal(fps_in):
    t = np.arange(int(2 * fps_in) + 1) / fps_in
    xyz = np.sin(2 * np.pi * 1.5 * t)[:, None, None] * np.ones((1, 1, 3))
    out = resample(xyz, fps_in, 60.0)
    assert out.shape == (121, 1, 3)
    truth = np.sin(2 * np.pi * 1.5 * np.arange(121) / 60)
    assert np.abs(out[10:-10, 0, 0] - truth[10:-10]).max() < 0.02


def _walker(tilt_deg=12.0, frames=600, fps=60.0):
    """Two feet stepping on a floor tilted about the camera x axis, pelvis 0.9 m above; camera axes."""
    rng = np.random.default_rng(0)
    a = np.radians(tilt_deg)
    up = np.array([0.0, -np.cos(a), -np.sin(a)])
    forward = np.array([0.0, -np.sin(a), np.cos(a)])
    right = np.array([1.0, 0.0, 0.0])
    t = np.arange(frames) / fps
    phase = 2 * np.pi * t / 1.1
    lift = lambda p: np.clip(np.sin(p), 0, None) * 0.12  # noqa: E731 - swing height, zero in stance
    feet = []
    for side, p in ((-0.1, phase), (0.1, phase + np.pi)):
        heel = side * right + (0.25 * np.cos(p))[:, None] * forward + lift(p)[:, None] * up
        toe = heel + 0.2 * forward
        feet += [heel, toe]
    pelvis_l = 0.1 * right + 0.9 * up + 0 * t[:, None]
    pelvis_r = -0.1 * right + 0.9 * up + 0 * t[:, None]
    xyz = np.stack([pelvis_l, pelvis_r] + feet, axis=1) + rng.normal(0, 0.002, (frames, 6, 3))
    return xyz, up


def test_the_floor_is_fitted_as_a_tilted_plane():
    xyz, up = _walker()
    floor = fit_floor(xyz, np.arange(2, 6), np.array([0, 1]))
    assert np.degrees(np.arccos(floor.normal @ up)) < 1.0
    assert abs(floor.offset) < 0.005 and floor.rms_mm < 5


def test_observed_metrics_on_a_clean_and_a_sunken_walker(blazepose):
    xyz, up = _walker()
    index = MarkerIndex(
        names=["LHip", "RHip", "LHeel", "LBigToe", "RHeel", "RBigToe"],
        pelvis=np.array([0, 1]),
        pelvis_back=np.array([], dtype=np.int64),
        segments=np.array([[2, 3], [4, 5]]),
        bones=np.array([[2, 3], [4, 5]]),
        symmetric=np.zeros((0, 2, 2), dtype=np.int64),
        limits=np.zeros((0, 3), dtype=np.int64),
        limit_range_rad=np.zeros((0, 2)),
        feet=np.arange(2, 6),
    )
    clean = observed_metrics(xyz, index)
    assert clean["ground_violation_pct"] < 1.0 and 0.19 < clean["hip_width_m"] < 0.21
    assert clean["pelvis_rom_deg"]["obliquity"] < 8.0 and clean["bone_cv"] < 0.02  # 2 mm noise on a 0.2 m pelvis: ±0.8°
    sunk = xyz.copy()
    sunk[::7, 2:] -= 0.05 * up  # every 7th frame the feet sink 5 cm
    assert 3.0 < observed_metrics(sunk, index)["ground_violation_pct"] < 100 / 7  # stance-foot samples of those frames


def _person(cx, cy, scale):
    pts = np.zeros((33, 3))
    pts[:, 0], pts[:, 1] = cx, cy
    pts[[11, 12], 1] = cy - 0.2 * scale  # shoulders above the hips
    pts[[11, 12], 0] = cx - 0.05 * scale, cx + 0.05 * scale
    pts[[23, 24], 0] = cx - 0.04 * scale, cx + 0.04 * scale
    pts[[27, 28], 1] = cy + 0.4 * scale
    return pts


def test_following_one_person_through_order_swaps_and_gaps():
    walker = [_person(0.1 + 0.005 * f, 0.7, 1.0) for f in range(120)]
    standing = _person(0.8, 0.3, 0.5)
    frames = []
    for f in range(120):
        dets = [walker[f], standing] if f % 3 else [standing, walker[f]]  # the detector's order changes
        if 40 <= f < 45:
            dets = [standing]  # the walker is missed for 5 frames
        if f >= 110:
            dets = [walker[f]]
        frames.append(dets)
    chosen = follow_one_person(frames)
    picked = [frames[f][k] for f, k in enumerate(chosen) if k is not None]
    assert sum(k is None for k in chosen) == 5 and all(p[23, 1] == 0.7 for p in picked)


def _trc(path, names, xyz_m, fps=60.0, units="mm"):
    n = len(xyz_m)
    scale = {"mm": 1000.0, "m": 1.0}[units]
    write_trc(
        Trc(
            names,
            np.arange(1, n + 1),
            np.arange(n) / fps,
            xyz_m * scale,
            units,
            fps,
            {"DataRate": f"{fps:g}", "NumMarkers": str(len(names)), "Units": units},
        ),
        path,
    )
    return path


def test_trc_input_with_aliases_axes_and_gaps(tmp_path, blazepose):
    names = ["MidHip" if n == "midHip" else n for n in blazepose.names] + ["Nose"]
    rng = np.random.default_rng(1)
    xyz = rng.normal(0, 0.3, (90, len(names), 3))
    xyz[40:44, 2] = np.nan  # a short gap, filled
    src = _trc(tmp_path / "walk.trc", names, xyz, fps=30.0)
    out = tmp_path / "out"
    info = markers_from_file(
        str(src),
        str(BLAZEPOSE),
        str(out / "m.parquet"),
        str(out / "m.trc"),
        str(out / "m.png"),
        fps=60.0,
        gap_fill_s=0.2,
        axes="x,-z,y",
    )
    observed, refined, table, meta = read_observations(out / "m.parquet")
    assert observed.shape == (179, 18, 3) and refined is None and "true_xyz" not in table.column_names
    assert json.loads(meta["markers"]) == blazepose.names and meta["markerset"] == "blazepose"
    # camera y = −file z, camera z = file y, metres; frame 2k at 60 fps is file frame k
    assert np.allclose(observed[20, 7], [xyz[10, 7, 0], -xyz[10, 7, 2], xyz[10, 7, 1]], atol=1e-5)
    assert info["filled_gaps"] == [{"start_s": 1.3333, "frames": 4, "markers": 1}]
    assert read_trc(out / "m.trc").markers == blazepose.names and (out / "m.png").stat().st_size > 5000


def test_trc_with_missing_markers_or_long_gaps_is_refused(tmp_path, blazepose):
    names = [n for n in blazepose.names if n != "LHeel"]
    src = _trc(tmp_path / "nolheel.trc", names, np.zeros((60, len(names), 3)))
    with pytest.raises(DataError, match=r"nolheel.trc: marker set mismatch: markers \['LHeel'\] of set 'blazepose'"):
        read_marker_file(str(src), blazepose, "x,y,z")
    xyz = np.zeros((120, 18, 3))
    xyz[30:60, 3] = np.nan
    src = _trc(tmp_path / "gappy.trc", blazepose.names, xyz)
    with pytest.raises(DataError, match=r"gappy.trc: marker 'RElbow' is missing for 30 frames"):
        markers_from_file(
            str(src),
            str(BLAZEPOSE),
            str(tmp_path / "o.parquet"),
            str(tmp_path / "o.trc"),
            str(tmp_path / "o.png"),
            fps=60.0,
            gap_fill_s=0.2,
        )
    assert not list(tmp_path.glob("o.*"))  # nothing half-written


def test_parquet_marker_files_name_their_marker_set(tmp_path, small_shards, blazepose):
    sets = {"blazepose": str(BLAZEPOSE), "opencap": str(REPO / "config/markersets/opencap.yaml")}
    shard = json.loads(small_shards.read_text())["shards"][0]["path"]
    assert marker_file_markerset(shard, sets) == "blazepose"  # opencap includes the BlazePose keypoints
    assert marker_file_markerset(shard, {"opencap": sets["opencap"]}) == "opencap"
    with pytest.raises(DataError, match="holds 2 clips; a marker file must hold one recording"):
        read_marker_file(shard, blazepose, "x,y,z")
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="x.parquet: not a marker Parquet file"):
        marker_file_markerset(str(tmp_path / "x.parquet"), sets)


def test_recordings_are_found_by_name_and_clashes_refused(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "m").mkdir()
    (tmp_path / "v" / "joey.mp4").write_bytes(b"")
    (tmp_path / "v" / "notes.txt").write_text("")
    (tmp_path / "m" / "ann.trc").write_text("")
    found = find_recordings(tmp_path / "v", tmp_path / "m", (".mp4",), (".trc",), ("index",))
    assert found == {"joey": str(tmp_path / "v" / "joey.mp4"), "ann": str(tmp_path / "m" / "ann.trc")}
    (tmp_path / "m" / "joey.trc").write_text("")
    with pytest.raises(ValueError, match="recording name 'joey' is given twice"):
        find_recordings(tmp_path / "v", tmp_path / "m", (".mp4",), (".trc",))
    (tmp_path / "m" / "joey.trc").unlink()
    (tmp_path / "m" / "index.trc").write_text("")
    with pytest.raises(ValueError, match="the name 'index' is reserved"):
        find_recordings(tmp_path / "v", tmp_path / "m", (".mp4",), (".trc",), ("index",))


def test_unreadable_and_empty_videos_are_refused(tmp_path):
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(DataError, match="text.mp4: cannot decode any frame"):
        video_info(tmp_path / "text.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="empty.mp4: cannot decode any frame"):
        video_info(tmp_path / "empty.mp4")
    with pytest.raises(DataError, match="missing.mp4: video file not found"):
        video_info(tmp_path / "missing.mp4")
