"""The original CMU ASF/AMC and the cgspeed BVH of trial 01_01 give the same joints."""

import numpy as np
import pytest

from depthrefine.errors import DataError
from depthrefine.mocap.asf_amc import amc_joint_positions, read_amc, read_asf
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import CMU_UNIT_M, bvh_to_joints

# BVH joint ← the ASF bone whose end it sits at.
LOWER_BODY_AND_SPINE = {
    "Hips": "root",
    "LeftUpLeg": "lhipjoint",
    "LeftLeg": "lfemur",
    "LeftFoot": "ltibia",
    "LeftToeBase": "lfoot",
    "LeftToeBase_End": "ltoes",
    "RightUpLeg": "rhipjoint",
    "RightLeg": "rfemur",
    "RightFoot": "rtibia",
    "RightToeBase": "rfoot",
    "RightToeBase_End": "rtoes",
    "Spine": "lowerback",
    "Spine1": "upperback",
}
ABOVE_THORAX = {
    "Neck": "thorax",
    "Neck1": "lowerneck",
    "Head": "upperneck",
    "Head_End": "head",
    "LeftArm": "lclavicle",
    "LeftForeArm": "lhumerus",
    "LeftHand": "lradius",
    "RightArm": "rclavicle",
    "RightForeArm": "rhumerus",
    "RightHand": "rradius",
}


@pytest.fixture(scope="module")
def both(data_dir):
    asf = read_asf(data_dir / "cmu-asf-amc" / "01.asf")
    amc = read_amc(data_dir / "cmu-asf-amc" / "01_01.amc", asf)
    # The BVH's first frame is cgspeed's reference pose; dropping it aligns frame k with AMC frame k.
    bvh = bvh_to_joints(read_bvh(data_dir / "cmu-bvh" / "01_01.bvh"), drop_first="auto")
    return asf, amc, bvh


def max_error_mm(bvh, positions, mapping):
    return {
        j: float(np.linalg.norm(bvh.positions_m[:, bvh.names.index(j)] - positions[b], axis=1).max() * 1000)
        for j, b in mapping.items()
    }


def test_asf_units_give_the_cmu_length_unit(both):
    asf, _, _ = both
    assert asf.length_scale == 0.45
    assert 0.0254 / asf.length_scale == pytest.approx(CMU_UNIT_M)
    assert CMU_UNIT_M == pytest.approx(0.056444, abs=1e-6)
    assert asf.bones["lfemur"].length * CMU_UNIT_M == pytest.approx(0.404, abs=0.001)  # a femur


def test_same_frames(both):
    _, amc, bvh = both
    assert amc["root"].shape[0] == bvh.positions_m.shape[0] == 2751


def test_lower_body_and_spine_agree_within_a_few_mm(both):
    asf, amc, bvh = both
    errors = max_error_mm(bvh, amc_joint_positions(asf, amc, CMU_UNIT_M), LOWER_BODY_AND_SPINE)
    assert max(errors.values()) < 0.01, errors  # 0.005 mm: the BVH's 4-5 significant digits


def test_upper_body_differs_by_the_thorax_that_cgspeed_folds(both):
    asf, amc, bvh = both
    real = max_error_mm(bvh, amc_joint_positions(asf, amc, CMU_UNIT_M), ABOVE_THORAX)
    thorax_mm = asf.bones["thorax"].length * CMU_UNIT_M * 1000
    assert min(real.values()) == pytest.approx(thorax_mm, abs=30)  # ≈116.6 mm apart
    asf.bones["thorax"].length = 0.0  # cgspeed's BVH gives the thorax zero length
    folded = max_error_mm(bvh, amc_joint_positions(asf, amc, CMU_UNIT_M), ABOVE_THORAX)
    assert max(folded.values()) < 0.01, folded


def test_second_subject_parses(data_dir):
    asf = read_asf(data_dir / "cmu-asf-amc" / "11.asf")
    amc = read_amc(data_dir / "cmu-asf-amc" / "11_01.amc", asf)
    pos = amc_joint_positions(asf, amc, CMU_UNIT_M)
    femur = np.linalg.norm(pos["lfemur"] - pos["lhipjoint"], axis=1)
    assert femur.std() < 1e-9 and 0.3 < femur.mean() < 0.5


def test_amc_with_wrong_value_count(tmp_path, data_dir):
    asf = read_asf(data_dir / "cmu-asf-amc" / "01.asf")
    bad = tmp_path / "bad.amc"
    bad.write_text(":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\nltibia 1 2\n")
    with pytest.raises(DataError, match=r"bad\.amc, line 5, frame 0: 2 values for 'ltibia', expected 1"):
        read_amc(bad, asf)


def test_hdm05_amc_with_a_latin1_header_reads_with_plausible_bones(tmp_path, data_dir):
    """HDM05 (../shared/data/hdm05, an archive): the AMC header holds a Latin-1 byte."""
    import tarfile

    members = ["HDM05/bd/HDM_bd.asf", "HDM05/bd/HDM_bd_squat1Reps_001_120.amc"]
    with tarfile.open(data_dir / "hdm05" / "hdm05-asf-amc.tar.xz") as tf:
        tf.extractall(tmp_path, members=[tf.getmember(m) for m in members], filter="data")
    amc = tmp_path / members[1]
    assert any(b > 127 for b in amc.read_bytes()[:400])  # the byte is really there
    sk = read_asf(tmp_path / members[0])
    pos = amc_joint_positions(sk, read_amc(amc, sk), unit_m=0.0254 / 0.45)
    thigh = np.linalg.norm(pos["lfemur"] - pos["ltibia"], axis=-1)
    assert 0.30 < thigh.mean() < 0.55 and thigh.std() < 1e-6
