"""Skeleton maps of the three shared sources: known segment lengths on a real clip of each,
and a wrong unit or map refused naming the file."""

import numpy as np
import pytest
from conftest import REPO, unpack

from depthrefine.errors import DataError
from depthrefine.mocap.anatomy import POINTS, SEGMENTS
from depthrefine.mocap.asf_amc import amc_joint_positions, read_amc, read_asf
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import CMU_UNIT_M, bvh_to_joints
from depthrefine.mocap.skeleton_map import (
    BODY_POINTS,
    body_points,
    check_segment_lengths,
    load_skeleton_map,
    segment_lengths_m,
)

MAPS = REPO / "config" / "skeletons"


def joints_of(traj):
    return {name: traj.positions_m[:, j] for j, name in enumerate(traj.names)}


def test_cmu_walk_has_subject_86s_segments(data_dir):
    traj = bvh_to_joints(read_bvh(data_dir / "cmu-bvh/actions/test_walking_1.bvh"))
    lengths = check_segment_lengths(
        body_points(joints_of(traj), load_skeleton_map(MAPS / "cmu_cgspeed.yaml"), "x"), "x"
    )
    assert lengths["left thigh"] == pytest.approx(0.42, abs=0.02)
    assert lengths["left shank"] == pytest.approx(0.42, abs=0.02)
    assert 0.14 < lengths["hip width"] < 0.2


def test_bandai_namco_walk_in_centimetres(tmp_path, data_dir):
    (path,) = unpack(
        data_dir / "bandai-namco/bandai-namco-bvh.tar.xz",
        ["Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk_normal_001.bvh"],
        tmp_path,
    )
    smap = load_skeleton_map(MAPS / "bandai_namco.yaml")
    lengths = check_segment_lengths(body_points(joints_of(bvh_to_joints(read_bvh(path), unit_m=0.01)), smap, "x"), "x")
    assert lengths["left thigh"] == pytest.approx(0.391, abs=0.002)  # its skeleton's femur, not doubled
    assert lengths["left shank"] == pytest.approx(0.410, abs=0.002)
    assert lengths["left upper arm"] == pytest.approx(0.243, abs=0.002)
    with pytest.raises(DataError, match=r"dataset-2_walk_normal_001\.bvh: implausible left thigh of 3\.9\d\d m"):
        traj = bvh_to_joints(read_bvh(path), unit_m=0.1)  # a unit mistake: decimetres
        check_segment_lengths(body_points(joints_of(traj), smap, str(path)), str(path))


def test_hdm05_actors_bone_ends(tmp_path, data_dir):
    asf, amc = unpack(
        data_dir / "hdm05/hdm05-asf-amc.tar.xz",
        ["HDM05/bk/HDM_bk.asf", "HDM05/bk/HDM_bk_squat1Reps_013_120.amc"],
        tmp_path,
    )
    sk = read_asf(asf)
    pos = amc_joint_positions(sk, read_amc(amc, sk), unit_m=CMU_UNIT_M)
    lengths = check_segment_lengths(body_points(pos, load_skeleton_map(MAPS / "hdm05.yaml"), str(amc)), str(amc))
    assert lengths["left thigh"] == pytest.approx(sk.bones["lfemur"].length * CMU_UNIT_M, abs=1e-3)
    assert lengths["left shank"] == pytest.approx(sk.bones["ltibia"].length * CMU_UNIT_M, abs=1e-3)


def test_a_map_naming_joints_the_file_lacks_is_named(data_dir):
    traj = bvh_to_joints(read_bvh(data_dir / "cmu-bvh/actions/test_walking_1.bvh"))
    with pytest.raises(DataError, match=r"test_walking_1\.bvh: skeleton map 'bandai_namco' .* names joints \['Foot_L'"):
        body_points(
            joints_of(traj),
            load_skeleton_map(MAPS / "bandai_namco.yaml"),
            str(data_dir / "cmu-bvh/actions/test_walking_1.bvh"),
        )


def test_map_files_are_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nformat: bvh\npoints: {left_hip: A}\n")
    with pytest.raises(ValueError, match=r"missing \['left_ankle'"):
        load_skeleton_map(bad)
    bad.write_text("name: x\nformat: fbx\npoints: {}\n")
    with pytest.raises(ValueError, match="format must be one of"):
        load_skeleton_map(bad)
    bad.write_text("name: x\nformat: bvh\nrest_pose: tpose\npoints: {}\n")
    with pytest.raises(ValueError, match="rest_pose must be one of"):
        load_skeleton_map(bad)
    for path in MAPS.glob("*.yaml"):  # the shipped maps give every body point and segment
        smap = load_skeleton_map(path)
        assert set(smap.points) == set(POINTS) and set(smap.segments) == set(SEGMENTS), path


def test_segment_lengths_are_medians_over_the_clip():
    f = 50
    pts = {p: np.zeros((f, 3)) for p in BODY_POINTS}
    for side in ("left", "right"):
        pts[f"{side}_knee"] = np.tile([0.0, -0.4, 0.0], (f, 1))
    pts["left_knee"][:5] = [0.0, -9.0, 0.0]  # a few glitched frames do not move the median
    assert segment_lengths_m(pts)["left thigh"] == pytest.approx(0.4)
