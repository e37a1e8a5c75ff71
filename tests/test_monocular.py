"""The monocular error model fitted to real residuals: each component's statistics match its
parameters, and the fit recovers parameters planted in synthetic residuals."""

from dataclasses import replace

import numpy as np
import pytest

from depthrefine.evaluation import error_fit
from depthrefine.markers.corruption import CorruptionConfig, corrupt
from depthrefine.markers.markersets import joints_to_markers, load_markerset
from depthrefine.markers.monocular import (
    MonocularErrors,
    depth_errors,
    keyframe_process,
    rotate_about,
    whole_limbs,
)
from depthrefine.mocap.anatomy import SEGMENT_PARENTS
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample
from depthrefine.settings import config_section

FPS = 60.0
UP_CAMERA = np.array([0.0, -1.0, 0.0])  # a level camera: world up is camera −y


def zero_params(**planted) -> MonocularErrors:
    base = {k: 0.0 for k in MonocularErrors.__dataclass_fields__} | {"body_depth_median": 1.0}
    base |= {"yaw_interval_s": 0.3, "limb_interval_s": 0.3, "marker_interval_s": 0.3}
    return MonocularErrors(**(base | planted))


@pytest.fixture(scope="module")
def walk(bvh_01_01):
    """CMU 01_01 in BlazePose's landmarks, seen by a level camera 4 m away (camera frame)."""
    ms = load_markerset("config/markersets/blazepose.yaml")
    world = joints_to_markers(resample(bvh_to_joints(read_bvh(bvh_01_01)), 60), ms)[:240]
    centre = world[:, :, [0, 2]].reshape(-1, 2).mean(axis=0)
    true = np.stack([world[..., 0] - centre[0], -world[..., 1] + 1.0, world[..., 2] - centre[1] + 4.0], axis=-1)
    names = ms.names
    return {
        "true": true,
        "names": names,
        "pelvis": (names.index("LHip"), names.index("RHip")),
        "limbs": whole_limbs([m.frame for m in ms.markers], SEGMENT_PARENTS),
    }


def draw(walk, params, seed=0):
    rng = np.random.default_rng(seed)
    return depth_errors(walk["true"], FPS, rng, params, up=UP_CAMERA, pelvis=walk["pelvis"], limbs=walk["limbs"])


def test_keyframe_process_has_unit_variance_and_its_interval():
    x = keyframe_process(np.random.default_rng(1), 600, 3000, FPS, 0.5)  # keyframes every 30 frames
    var = x.var(axis=1)
    assert np.all(np.abs(var - 1.0) < 0.12) and abs(float(x.mean())) < 0.01  # at every phase
    corr = lambda k: float(np.mean(x[:-k] * x[k:]))  # noqa: E731
    assert corr(3) > 0.95 and corr(15) > 0.4 and abs(corr(60)) < 0.1  # smooth, gone after 2 intervals
    second = np.diff(x, n=2, axis=0)
    assert second.std() < 0.05  # not white (white: √6 ≈ 2.4)


def test_only_the_planted_component_is_drawn(walk):
    out = draw(walk, zero_params())
    assert all(np.all(v == 0) for v in out.values())
    out = draw(walk, zero_params(jitter_m=0.02))
    assert set(k for k, v in out.items() if np.any(v)) == {"jitter", "total"}


def test_jitter_and_marker_noise_levels(walk):
    jitter = draw(walk, zero_params(jitter_m=0.02))["jitter"]
    assert jitter.std() == pytest.approx(0.02, rel=0.05)
    assert np.diff(jitter, n=2, axis=0).var() == pytest.approx(6 * 0.02**2, rel=0.1)
    noise = np.concatenate([draw(walk, zero_params(marker_noise_m=0.03), s)["marker"] for s in range(20)])
    assert noise.std() == pytest.approx(0.03, rel=0.1)
    lag1 = np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]
    assert lag1 > 0.97  # keyframes every 18 frames: correlated, not white


def test_whole_body_rotation_about_the_vertical(walk):
    rel = walk["true"] - 0.5 * (walk["true"][:, walk["pelvis"][0]] + walk["true"][:, walk["pelvis"][1]])[:, None]
    angles = []
    for seed in range(300):
        yaw = draw(walk, zero_params(yaw_clip_deg=10.0), seed)["yaw"]
        # One angle for the whole clip: recover it from the first frame, check every frame.
        grid = np.deg2rad(np.linspace(-45, 45, 9001))
        change = rotate_about(np.repeat(rel[:1], len(grid), 0), UP_CAMERA, grid)[..., 2] - rel[0, :, 2]
        theta = grid[np.argmin(((change - yaw[0]) ** 2).sum(axis=1))]
        expected = rotate_about(rel, UP_CAMERA, np.full(len(rel), theta))[..., 2] - rel[..., 2]
        assert np.abs(expected - yaw).max() < 1e-3
        angles.append(np.rad2deg(theta))
    assert np.std(angles) == pytest.approx(10.0, rel=0.12) and abs(np.mean(angles)) < 1.5


def test_body_depth_scale_and_limb_offsets(walk):
    true, (li, ri) = walk["true"], walk["pelvis"]
    rel_z = true[..., 2] - 0.5 * (true[:, li, 2] + true[:, ri, 2])[:, None]
    logs = []
    for seed in range(300):
        scale = draw(walk, zero_params(body_depth_scale=0.2), seed)["body_scale"]
        factor = np.median(scale[np.abs(rel_z) > 0.05] / rel_z[np.abs(rel_z) > 0.05])
        assert np.allclose(scale, factor * rel_z, atol=1e-9)
        logs.append(np.log1p(factor))
    assert np.std(logs) == pytest.approx(0.2, rel=0.12) and abs(np.mean(logs)) < 0.03
    scale = draw(walk, zero_params(body_depth_median=0.7), 0)["body_scale"]
    assert np.allclose(scale, -0.3 * rel_z)

    names = walk["names"]
    ends = [names.index(n) for n in ("LBigToe", "RBigToe", "LWrist", "RWrist")]
    roots = [names.index(n) for n in ("LHip", "RHip", "LShoulder", "RShoulder")]
    offsets = []
    for seed in range(300):
        limb = draw(walk, zero_params(limb_offset_m=0.1), seed)["limb"]
        assert np.all(limb[:, roots] == 0) and np.all(limb[:, names.index("Neck")] == 0)
        assert np.allclose(limb[:, ends], limb[0, ends], atol=1e-4)  # per clip: constant in time
        offsets += list(limb[0, ends])
    # The toe tip or wrist is each limb's farthest marker (weight 1): sd = limb_offset_m.
    assert np.std(offsets) == pytest.approx(0.1, rel=0.12)


def test_lag_delays_the_depth(walk):
    lag = draw(walk, zero_params(lag_s=0.1))["lag"]
    z = walk["true"][..., 2]
    assert np.allclose(lag[6:], z[:-6] - z[6:], atol=1e-9)


def test_fitted_corruption_changes_depth_only_and_is_seeded(walk):
    cfg = CorruptionConfig.from_dict(config_section("corruption", {"error_model": "fitted", "image_noise_mm": 0.0}))
    world = np.stack([walk["true"][..., 0], -walk["true"][..., 1], walk["true"][..., 2]], -1)  # Y up
    kwargs = dict(clip="c", variant=0, seed=3, cfg=cfg, pelvis=walk["pelvis"], groups=["pelvis"] * 18, limbs=[])
    a = corrupt(world, FPS, whole_limbs=walk["limbs"], **kwargs)
    b = corrupt(world, FPS, whole_limbs=walk["limbs"], **kwargs)
    assert np.array_equal(a["observed"], b["observed"])
    assert np.allclose(a["observed"][..., :2], a["true"][..., :2])
    err = a["observed"][..., 2] - a["true"][..., 2]
    assert 0.02 < np.sqrt(np.mean(err**2)) < 0.3 and a["noise_mm"] == pytest.approx(np.sqrt(np.mean(err**2)) * 1000)
    mixed = CorruptionConfig.from_dict(config_section("corruption", {"error_model": "mixed", "image_noise_mm": 0.0}))
    odd = corrupt(world, FPS, whole_limbs=walk["limbs"], **(kwargs | {"cfg": mixed, "variant": 1}))
    even = corrupt(world, FPS, whole_limbs=walk["limbs"], **(kwargs | {"cfg": mixed, "variant": 0}))
    fitted_odd = corrupt(world, FPS, whole_limbs=walk["limbs"], **(kwargs | {"variant": 1}))
    assert np.array_equal(odd["observed"], fitted_odd["observed"])
    synthetic = CorruptionConfig.from_dict(config_section("corruption", {"image_noise_mm": 0.0}))
    assert np.array_equal(even["observed"], corrupt(world, FPS, **(kwargs | {"cfg": synthetic}))["observed"])
    with pytest.raises(ValueError, match="is not one of synthetic, fitted, mixed"):
        CorruptionConfig.from_dict(config_section("corruption", {"error_model": "real"}))


def test_decomposition_recovers_planted_clip_terms(walk):
    """Raw = truth + the model's errors with known parameters; the decomposition of
    error_fit finds the per-clip rotation, depth scale and limb offsets it was given."""
    planted = zero_params(
        yaw_clip_deg=8.0, body_depth_median=0.8, body_depth_scale=0.2, limb_offset_m=0.08, jitter_m=0.01
    )
    parts = []
    for seed in range(40):
        err = draw(walk, planted, seed)
        raw = walk["true"].copy()
        raw[..., 2] += err["total"]
        parts.append(
            error_fit.decompose_pair(
                raw, walk["true"], FPS, names=walk["names"], pelvis=walk["pelvis"], limbs=walk["limbs"]
            )
        )
    clip_yaw = [np.nanmedian(p["yaw_deg"]) for p in parts]
    assert error_fit._rms(clip_yaw) == pytest.approx(8.0, rel=0.3)
    assert error_fit._rms([np.log(p["body_scale"] / 0.8) for p in parts]) == pytest.approx(0.2, rel=0.3)
    limb = [np.nanmean(q["offset"]) for p in parts for q in p["limbs"]]
    assert error_fit._rms(limb) == pytest.approx(0.08, rel=0.3)
    assert all(p["lag_frames"] == 0 for p in parts)
    assert np.median([p["jitter_m"] for p in parts]) == pytest.approx(0.01, rel=0.35)


def test_spectrum_match_finds_the_planted_time_scale(walk, monkeypatch):
    monkeypatch.setattr(error_fit, "INTERVAL_GRID_S", (0.05, 0.4))
    monkeypatch.setattr(error_fit, "WHITE_SHARE_GRID", (0.2,))
    monkeypatch.setattr(error_fit, "LEVEL_GRID", (0.5, 1.0))
    planted = zero_params(marker_noise_m=0.04 * np.sqrt(0.8), jitter_m=0.04 * np.sqrt(0.2), marker_interval_s=0.4)
    planted = replace(planted, yaw_interval_s=0.4, limb_interval_s=0.4)
    pairs = []
    for seed in range(4):
        raw = walk["true"].copy()
        raw[..., 2] += draw(walk, planted, 100 + seed)["total"]
        pairs.append((raw[:120], walk["true"][:120]))
    base = replace(planted, marker_noise_m=0.04 * np.sqrt(0.8), jitter_m=0.04 * np.sqrt(0.2))
    found, scores = error_fit.match_spectrum(
        base, pairs, FPS, pelvis=walk["pelvis"], limbs=walk["limbs"], names=walk["names"], seed=0
    )
    assert found.marker_interval_s == 0.4 and found.marker_noise_m == pytest.approx(planted.marker_noise_m)
    assert len(scores) == 4


def test_decomposition_finds_a_planted_lag(walk):
    planted = zero_params(lag_s=0.05, body_depth_scale=0.2, jitter_m=0.01)
    for seed in range(5):
        raw = walk["true"].copy()
        raw[..., 2] += draw(walk, planted, seed)["total"]
        part = error_fit.decompose_pair(
            raw, walk["true"], FPS, names=walk["names"], pelvis=walk["pelvis"], limbs=walk["limbs"]
        )
        assert part["lag_frames"] == 3
