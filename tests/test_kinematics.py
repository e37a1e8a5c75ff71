"""Units, the cgspeed reference frame, and resampling that keeps the true skeleton rigid."""

import glob

import numpy as np
import pytest

from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import (
    bvh_to_joints,
    is_reference_frame,
    resample,
    resample_ratio,
)


def test_reference_frame_detected_only_where_present(data_dir, bvh_01_01):
    m = read_bvh(bvh_01_01)
    assert is_reference_frame(m.values, m.skeleton)
    for path in sorted(glob.glob(str(data_dir / "cmu-bvh" / "actions" / "*.bvh")))[:10] + sorted(
        glob.glob(str(data_dir / "cmu-style-bvh" / "*.bvh"))
    ):
        m = read_bvh(path)
        assert not is_reference_frame(m.values, m.skeleton), path


def test_drop_first_frame_switch(bvh_01_01):
    m = read_bvh(bvh_01_01)
    assert bvh_to_joints(m, drop_first="auto").positions_m.shape[0] == 2751
    assert bvh_to_joints(m, drop_first=False).positions_m.shape[0] == 2752
    assert bvh_to_joints(m, drop_first=True).positions_m.shape[0] == 2751


def test_metres_and_standing_height(bvh_01_01):
    j = bvh_to_joints(read_bvh(bvh_01_01))
    femur = np.linalg.norm(
        j.positions_m[:, j.names.index("LeftLeg")] - j.positions_m[:, j.names.index("LeftUpLeg")], axis=1
    )
    assert femur == pytest.approx(0.4040, abs=2e-4)
    head = j.positions_m[:, j.names.index("Head_End"), 1]
    toes = j.positions_m[:, j.names.index("LeftToeBase_End"), 1]
    assert 1.5 < np.median(head) < 1.9  # y is up, in metres
    assert -0.05 < toes.min() < 0.03  # the floor is near y = 0


def test_resample_ratio_rounds_cmu_frame_time():
    assert resample_ratio(1 / 0.0083333, 60) == 0.5
    assert resample_ratio(120, 50) == pytest.approx(5 / 12)


def test_120_to_60_picks_original_frames(bvh_01_01):
    j = bvh_to_joints(read_bvh(bvh_01_01))
    r = resample(j, 60)
    assert r.fps == 60 and r.positions_m.shape[0] == 1376
    assert np.array_equal(r.positions_m, j.positions_m[::2])


@pytest.mark.parametrize("fps", [50, 30, 25])
def test_non_integer_resampling_keeps_bones_rigid(data_dir, fps):
    j = bvh_to_joints(read_bvh(data_dir / "cmu-style-bvh" / "LocomotionFlat04_000.bvh"))
    r = resample(j, fps)
    assert r.positions_m.shape[0] == int(np.floor((j.positions_m.shape[0] - 1) * fps / 120)) + 1
    for child, parent in enumerate(j.parents):
        if parent >= 0:
            length = np.linalg.norm(r.positions_m[:, child] - r.positions_m[:, parent], axis=1)
            assert length.std() < 1e-9
    # the motion itself is preserved: compare with the original at coinciding times (every 12/… frames)
    step = {50: 12, 30: 4, 25: 24}[fps]
    k = {50: 5, 30: 1, 25: 5}[fps]
    assert r.positions_m[::k][: len(j.positions_m[::step])] == pytest.approx(
        j.positions_m[::step][: len(r.positions_m[::k])], abs=1e-9
    )
