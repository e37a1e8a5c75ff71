"""Metrics and classical filters on hand-made sequences with known answers."""

import numpy as np
import pytest

from depthrefine.evaluation import metrics
from depthrefine.evaluation.filters import butterworth_depth, savgol_depth
from depthrefine.markers.index import MarkerIndex

# markers: 0 left hip, 1 right hip, 2 knee, 3 foot
INDEX = MarkerIndex(
    names=["LHip", "RHip", "Knee", "Foot"],
    pelvis=np.array([0, 1]),
    pelvis_back=np.array([], dtype=np.int64),
    segments=np.array([[0, 2], [2, 3]]),
    bones=np.array([[0, 2], [2, 3]]),
    symmetric=np.zeros((0, 2, 2), dtype=np.int64),
    limits=np.zeros((0, 3), dtype=np.int64),
    limit_range_rad=np.zeros((0, 2), dtype=np.float32),
    feet=np.array([3]),
)
UP = np.array([0.0, -1.0, 0.0])


def standing(frames=60):
    xyz = np.zeros((frames, 4, 3))
    xyz[:, 0] = [0.1, 0.0, 3.0]
    xyz[:, 1] = [-0.1, 0.0, 3.0]
    xyz[:, 2] = [0.1, 0.45, 3.0]
    xyz[:, 3] = [0.1, 0.9, 3.0]  # y down: the foot is 0.9 m below the hips
    return xyz


def test_depth_error_ignores_a_root_offset():
    true = standing()
    shifted = true.copy()
    shifted[..., 2] += 0.5  # whole body 0.5 m deeper: no relative depth error
    assert metrics.depth_error_mm(shifted, true, INDEX) == pytest.approx(0.0)
    bent = true.copy()
    bent[:, 3, 2] += 0.04  # the foot 40 mm off in depth
    assert metrics.depth_error_mm(bent, true, INDEX) == pytest.approx(40 / 4)
    assert metrics.mpjpe_mm(bent, true, INDEX) == pytest.approx(40 / 4)


def test_bone_cv_and_jitter():
    xyz = standing()
    xyz[::2, 3, 1] += 0.045  # shank length alternates 0.45 / 0.495
    lengths = np.array([0.45, 0.495] * 30)
    assert metrics.bone_length_cv(xyz, INDEX.bones) == pytest.approx((0 + lengths.std() / lengths.mean()) / 2)
    z = standing()
    z[:, :, 2] += (np.arange(60) % 2)[:, None] * 0.002  # ±2 mm alternation: |Δ²| = 4 mm
    assert metrics.depth_jitter_mm(z) == pytest.approx(4.0)


def test_ground_violations():
    xyz = standing(100)
    floor = float(xyz[0, 3] @ UP)  # the standing foot height along up is the floor
    xyz[:10, 3, 1] += 0.02  # 10 of 100 frames: foot 20 mm below the floor
    xyz[10:20, 3, 1] += 0.005  # 5 mm below: within tolerance
    assert metrics.ground_violation_pct(xyz, INDEX.feet, UP, floor) == pytest.approx(10.0)


def test_pelvis_rom():
    xyz = standing(50)
    angle = np.radians(np.linspace(0, 20, 50))  # pelvis obliquity sweeps 0 → 20°
    xyz[:, 0] = np.stack([0.1 * np.cos(angle), -0.1 * np.sin(angle), np.full(50, 3.0)], axis=1)
    xyz[:, 1] = -xyz[:, 0] + [0, 0, 6.0]
    rom = metrics.pelvis_rom_deg(xyz, INDEX, UP)
    assert rom["obliquity"] == pytest.approx(20.0, abs=1e-6) and rom["rotation"] == pytest.approx(0.0, abs=1e-6)
    assert metrics.pelvis_rom_error_deg(xyz, standing(50), INDEX, UP) == pytest.approx(10.0, abs=1e-6)


def test_filters_smooth_depth_only_and_keep_slow_motion():
    rng = np.random.default_rng(0)
    t = np.arange(600) / 60.0
    true = standing(600)
    true[:, :, 2] += 0.2 * np.sin(2 * np.pi * 1.0 * t)[:, None]  # 1 Hz motion
    noisy = true.copy()
    noisy[:, :, 2] += rng.normal(0, 0.01, (600, 4))
    for smooth in (butterworth_depth(noisy, 60.0), savgol_depth(noisy, 60.0)):
        assert np.array_equal(smooth[..., :2], noisy[..., :2])
        assert metrics.depth_jitter_mm(smooth) < 0.25 * metrics.depth_jitter_mm(noisy)
        assert np.abs(smooth[..., 2] - true[..., 2])[30:-30].mean() < 0.5 * np.abs(noisy[..., 2] - true[..., 2]).mean()
