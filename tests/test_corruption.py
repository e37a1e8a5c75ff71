"""The virtual camera and the depth-error model, checked against their definitions."""

import numpy as np
import pytest

from depthrefine.markers.corruption import CorruptionConfig, corrupt, facing_direction
from depthrefine.markers.markersets import joints_to_markers
from depthrefine.markers.stages import limb_markers
from depthrefine.mocap.anatomy import SEGMENT_PARENTS
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample
from depthrefine.settings import config_section

LIMBS = ["left_shank", "right_shank", "left_forearm", "right_forearm"]


@pytest.fixture(scope="module")
def clip(bvh_01_01, opencap_set):
    traj = resample(bvh_to_joints(read_bvh(bvh_01_01)), 60)
    world = joints_to_markers(traj, opencap_set)
    names = opencap_set.names
    groups = [m.frame for m in opencap_set.markers]
    pelvis = (names.index("LHip"), names.index("RHip"))
    return {
        "world": world,
        "names": names,
        "groups": groups,
        "pelvis": pelvis,
        "limbs": limb_markers(groups, SEGMENT_PARENTS, LIMBS),
    }


def facing_mean_frames(clip, tolerance_deg=20.0):
    """Frames where the subject faces within tolerance of the clip's mean facing (01_01 turns)."""
    world, (li, ri) = clip["world"], clip["pelvis"]
    mean = facing_direction(world[:, li], world[:, ri])
    inst = np.cross(world[:, li] - world[:, ri], [0.0, 1.0, 0.0])
    inst[:, 1] = 0
    inst /= np.linalg.norm(inst, axis=1, keepdims=True)
    return inst @ mean > np.cos(np.radians(tolerance_deg))


def run(clip, variant=0, seed=7, **cfg):
    cfg.setdefault("error_model", "synthetic")  # the model these tests define (fitted: test_monocular.py)
    return corrupt(
        clip["world"],
        60.0,
        clip="c",
        variant=variant,
        seed=seed,
        cfg=CorruptionConfig.from_dict(config_section("corruption", cfg)),
        pelvis=clip["pelvis"],
        groups=clip["groups"],
        limbs=clip["limbs"],
    )


def test_camera_axes_x_right_y_down_z_depth(clip):
    out = run(clip, azimuth_deg=(0, 0), elevation_deg=(5, 5), noise_mm=(0, 0), image_noise_mm=0.0, flip_rate_hz=0.0)
    r = out["camera"].rotation
    assert r @ r.T == pytest.approx(np.eye(3), abs=1e-12) and np.linalg.det(r) == pytest.approx(1.0)
    true, n = out["true"], clip["names"]
    head, ankle = true[:, n.index("Neck"), 1], true[:, n.index("LAnkle"), 1]
    assert (head < ankle).all()  # y points down
    # Facing the camera (azimuth 0): the subject's left (LHip) appears on the image's right (+x).
    steady = facing_mean_frames(clip)
    assert steady.mean() > 0.2
    assert (true[steady, n.index("LHip"), 0] > true[steady, n.index("RHip"), 0]).all()
    pelvis_depth = 0.5 * (true[:, n.index("LHip"), 2] + true[:, n.index("RHip"), 2])
    assert pelvis_depth.mean() == pytest.approx(out["camera"].distance_m, rel=0.1)
    assert np.array_equal(out["observed"], true)  # no noise configured → no error


@pytest.mark.parametrize("azimuth", [30.0, 75.0])
def test_azimuth_is_measured_from_the_facing_direction(clip, azimuth):
    out = run(clip, azimuth_deg=(azimuth, azimuth), both_sides=False, elevation_deg=(0, 0))
    world, (li, ri) = clip["world"], clip["pelvis"]
    forward = facing_direction(world[:, li], world[:, ri])
    to_camera = out["camera"].position_m - 0.5 * (world[:, li] + world[:, ri]).mean(axis=0)
    to_camera[1] = 0
    angle = np.degrees(np.arccos(np.dot(forward, to_camera / np.linalg.norm(to_camera))))
    assert angle == pytest.approx(azimuth, abs=1e-6)
    # positive azimuth puts the camera on the subject's left: the left hip is nearer
    true = out["true"]
    steady = facing_mean_frames(clip)
    assert (true[steady, li, 2] < true[steady, ri, 2]).all()
    assert out["camera"].azimuth_deg == pytest.approx(azimuth)


def test_sampled_parameters_stay_in_their_ranges(clip):
    for v in range(12):
        out = run(clip, variant=v, azimuth_deg=(10, 40), elevation_deg=(2, 8), noise_mm=(30, 80))
        assert 10 <= abs(out["camera"].azimuth_deg) <= 40
        assert 2 <= out["camera"].elevation_deg <= 8
        assert 30 <= out["noise_mm"] <= 80


def test_depth_error_level_jitter_and_distal_gain(clip):
    cfg = dict(noise_mm=(50, 50), flip_rate_hz=0.0, image_noise_mm=0.0, drift_share=0.9)
    errors = [run(clip, variant=v, **cfg) for v in range(4)]
    err = np.concatenate([(o["observed"] - o["true"])[:, :, 2] for o in errors])  # (F*4, M) metres
    gain = np.concatenate([np.full((1, err.shape[1]), 1.0)])
    from depthrefine.markers.corruption import distal_gains

    gain = distal_gains(clip["world"], clip["pelvis"], 0.6, 1.5)
    # total RMS per marker / gain = σ (the drift is slow, so allow for its sampling spread)
    rms = np.sqrt((err**2).mean(axis=0)) / gain
    assert np.median(rms) == pytest.approx(0.050, rel=0.25)
    # frame-to-frame jitter: second differences are dominated by the white part, std·√6
    d2 = np.diff(err, n=2, axis=0)
    jitter = d2.std(axis=0) / gain / np.sqrt(6)
    assert np.median(jitter) == pytest.approx(0.050 * np.sqrt(0.1), rel=0.05)
    # distal markers err more than the pelvis
    n = clip["names"]
    toe, hip = n.index("L_toe_study"), n.index("LHip")
    assert gain[toe] / gain[hip] > 2.0
    assert rms[toe] * gain[toe] > 1.6 * rms[hip] * gain[hip]
    assert gain.min() == pytest.approx(0.6) and gain.max() == pytest.approx(1.5)


def test_errors_correlate_within_a_segment(clip):
    errs = [run(clip, variant=v, noise_mm=(60, 60), flip_rate_hz=0.0, drift_share=1.0) for v in range(6)]
    err = np.concatenate([(o["observed"] - o["true"])[:, :, 2] for o in errs])
    n = clip["names"]
    same = np.corrcoef(err[:, n.index("r_sh1_study")], err[:, n.index("r_sh2_study")])[0, 1]  # both on the right shank
    other = np.corrcoef(err[:, n.index("r_sh1_study")], err[:, n.index("L_lwrist_study")])[0, 1]
    assert same > 0.6 and other < same - 0.3


def test_flips_move_only_limb_markers_about_their_proximal_marker(clip):
    out = run(clip, noise_mm=(0, 0), image_noise_mm=0.0, flip_rate_hz=1.0)
    moved = np.abs(out["observed"] - out["true"]).max(axis=0)
    n = clip["names"]
    assert out["flipped"].mean() > 0.2
    limb_members = {i for limb in clip["limbs"] for i in limb}
    assert moved[:, :2].max() == 0.0  # flips change depth only
    assert all(moved[i, 2] == 0.0 for i in range(len(n)) if i not in limb_members)
    assert moved[n.index("LAnkle"), 2] > 0.05 and moved[n.index("LWrist"), 2] > 0.05
    assert moved[n.index("LHip"), 2] == 0.0 and moved[n.index("Neck"), 2] == 0.0
    assert (np.abs(out["observed"] - out["true"])[~out["flipped"]] == 0).all()


def test_seeded_and_deterministic(clip):
    a, b = run(clip, variant=1), run(clip, variant=1)
    assert np.array_equal(a["observed"], b["observed"])
    assert not np.array_equal(a["observed"], run(clip, variant=2)["observed"])
    assert not np.array_equal(a["observed"], run(clip, variant=1, seed=8)["observed"])


def test_image_plane_noise_is_small(clip):
    out = run(clip, noise_mm=(50, 50), image_noise_mm=5.0, flip_rate_hz=0.0)
    xy = (out["observed"] - out["true"])[:, :, :2]
    assert np.sqrt((xy**2).mean()) == pytest.approx(0.005, rel=0.3)
