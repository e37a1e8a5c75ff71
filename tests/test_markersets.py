"""Marker sets as data: the OpenCap names, placement by offsets, rigidity on real motion."""

import glob

import numpy as np
import pytest
from conftest import REPO

from depthrefine.markers.markersets import joints_to_markers, load_markerset
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import JointTrajectories, bvh_to_joints, resample

OPENCAP_ANATOMICAL = [
    "r.ASIS_study",
    "L.ASIS_study",
    "r.PSIS_study",
    "L.PSIS_study",
    "r_knee_study",
    "r_mknee_study",
    "r_ankle_study",
    "r_mankle_study",
    "r_toe_study",
    "r_5meta_study",
    "r_calc_study",
    "L_knee_study",
    "L_mknee_study",
    "L_ankle_study",
    "L_mankle_study",
    "L_toe_study",
    "L_calc_study",
    "L_5meta_study",
    "r_shoulder_study",
    "L_shoulder_study",
    "C7_study",
    "r_thigh1_study",
    "r_thigh2_study",
    "r_thigh3_study",
    "L_thigh1_study",
    "L_thigh2_study",
    "L_thigh3_study",
    "r_sh1_study",
    "r_sh2_study",
    "r_sh3_study",
    "L_sh1_study",
    "L_sh2_study",
    "L_sh3_study",
    "RHJC_study",
    "LHJC_study",
    "r_lelbow_study",
    "r_melbow_study",
    "r_lwrist_study",
    "r_mwrist_study",
    "L_lelbow_study",
    "L_melbow_study",
    "L_lwrist_study",
    "L_mwrist_study",
]
VIDEO_KEYPOINTS = [
    "Neck",
    "RShoulder",
    "LShoulder",
    "RElbow",
    "LElbow",
    "RWrist",
    "LWrist",
    "midHip",
    "RHip",
    "LHip",
    "RKnee",
    "LKnee",
    "RAnkle",
    "LAnkle",
    "RHeel",
    "LHeel",
    "RBigToe",
    "LBigToe",
    "RSmallToe",
    "LSmallToe",
]


def test_opencap_set_has_the_43_anatomical_and_20_video_markers(opencap_set):
    assert len(OPENCAP_ANATOMICAL) == 43 and len(VIDEO_KEYPOINTS) == 20
    assert opencap_set.names[:20] == VIDEO_KEYPOINTS  # the included set comes first
    assert sorted(opencap_set.names[20:]) == sorted(OPENCAP_ANATOMICAL) and len(opencap_set.names) == 63
    video = load_markerset(REPO / "config" / "markersets" / "video_keypoints.yaml")
    assert video.names == VIDEO_KEYPOINTS


def test_offsets_are_scaled_by_segment_length():
    # Two joints 0.5 m apart; a marker offset [0.1, 0, 0] x L on the first, rotated 90° about y.
    ms = load_markerset(REPO / "config" / "markersets" / "video_keypoints.yaml")
    from depthrefine.markers.markersets import MarkerDef, MarkerSet
    from depthrefine.mocap.skeleton_map import SkeletonMap

    marker = MarkerDef("m", ("pelvis",), (1.0,), "pelvis", ("pelvis", "left_hip"), (0.1, 0.0, 0.0))
    mid = MarkerDef("mid", ("pelvis", "left_hip"), (0.5, 0.5), "pelvis", None, (0.0, 0.0, 0.0))
    ms = MarkerSet("t", "t", (marker, mid), (), (), (), {})
    smap = SkeletonMap("two", "two.yaml", "bvh", {"pelvis": "A", "left_hip": "B"}, {"pelvis": "A"}, "anatomical")
    rot_y90 = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=float)
    traj = JointTrajectories(
        names=("A", "B"),
        parents=np.array([-1, 0]),
        fps=60.0,
        positions_m=np.array([[[1.0, 1.0, 1.0], [1.0, 0.5, 1.0]]]),
        rotations=np.array([[rot_y90, rot_y90]]),
        rest_positions_m=np.array([[0.0, 1.0, 0.0], [0.0, 0.5, 0.0]]),
    )
    out = joints_to_markers(traj, ms, smap)
    assert out[0, 0] == pytest.approx([1.0, 1.0, 1.0 - 0.05])  # x offset of 0.05 m turned to -z
    assert out[0, 1] == pytest.approx([1.0, 0.75, 1.0])


def test_segments_are_rigid_on_real_motion(data_dir, opencap_set):
    files = sorted(glob.glob(str(data_dir / "cmu-bvh" / "actions" / "*.bvh")))[::12] + [
        str(data_dir / "cmu-bvh" / "01_01.bvh")
    ]
    idx = opencap_set.segment_indices()
    for path in files:
        xyz = joints_to_markers(resample(bvh_to_joints(read_bvh(path)), 60), opencap_set)
        lengths = np.linalg.norm(xyz[:, idx[:, 0]] - xyz[:, idx[:, 1]], axis=2)
        assert (lengths.std(axis=0) / lengths.mean(axis=0)).max() < 1e-6, path


def test_marker_geometry_is_human(bvh_01_01, opencap_set):
    xyz = joints_to_markers(resample(bvh_to_joints(read_bvh(bvh_01_01)), 60), opencap_set)
    n = opencap_set.names

    def dist(a, b):
        return float(np.median(np.linalg.norm(xyz[:, n.index(a)] - xyz[:, n.index(b)], axis=1)))

    assert 0.15 <= dist("LHip", "RHip") <= 0.40
    assert 0.18 <= dist("L.ASIS_study", "r.ASIS_study") <= 0.32
    assert 0.30 <= dist("LShoulder", "RShoulder") <= 0.45
    assert 0.07 <= dist("L_knee_study", "L_mknee_study") <= 0.13  # knee width
    assert 0.05 <= dist("L_ankle_study", "L_mankle_study") <= 0.10
    assert 0.15 <= dist("L_calc_study", "L_toe_study") <= 0.30  # foot length
    heel, toe, knee = (xyz[:, n.index(k), 1] for k in ("LHeel", "LBigToe", "LKnee"))
    assert np.median(knee) > 0.35 and np.percentile(heel, 5) < 0.1 and np.percentile(toe, 5) < 0.1


def test_bad_marker_sets_are_named(tmp_path, bvh_01_01):
    bad = tmp_path / "bad.yaml"
    bad.write_text("markers:\n  X: {origin: [Nowhere]}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: marker 'X': unknown body points \['Nowhere'\]"):
        load_markerset(bad)  # marker sets name body points, never a skeleton's joints
    bad.write_text(
        "markers:\n  X: {origin: [pelvis], frame: Hips, scale: [left_hip, right_hip], offset: [0.1, 0, 0]}\n"
    )
    with pytest.raises(ValueError, match=r"frame 'Hips' is not a segment"):
        load_markerset(bad)
    bad.write_text("markers:\n  X: {origin: [pelvis], scale: [left_hip, right_hip], offset: [0.1, 0, 0]}\n")
    with pytest.raises(ValueError, match=r"needs 'frame: <segment>'"):
        load_markerset(bad)
    bad.write_text("markers:\n  X: {origin: [pelvis, neck], weights: [0.2, 0.2]}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: marker 'X': 'weights' must"):
        load_markerset(bad)
    bad.write_text("markers:\n  X: {origin: [pelvis], offset: [0.1, 0, 0]}\n")
    with pytest.raises(ValueError, match=r"needs 'scale"):
        load_markerset(bad)
    bad.write_text("markers:\n  X: {origin: [pelvis]}\nsegments:\n  - [X, Y]\n")
    with pytest.raises(ValueError, match=r"segment \['X', 'Y'\] must name two markers"):
        load_markerset(bad)
