"""The virtual phone camera: known projection, the 2D detector's errors at their rates, and
the capture on its rays (every marker projects back to its detected pixel)."""

import numpy as np
import pytest

from depthrefine.capture.rays import project
from depthrefine.markers.corruption import CorruptionConfig, corrupt, facing_direction
from depthrefine.markers.markersets import joints_to_markers, load_markerset
from depthrefine.markers.virtual_camera import (
    VirtualCameraConfig,
    capture_on_rays,
    detected_pixels,
    mirror_index,
    place_phone,
)
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample
from depthrefine.settings import config_section

FPS = 60.0


def camera_config(**fixed) -> VirtualCameraConfig:
    return VirtualCameraConfig.from_dict(config_section("corruption")["virtual_camera"] | fixed)


@pytest.fixture(scope="module")
def clip(bvh_01_01):
    ms = load_markerset("config/markersets/blazepose.yaml")
    world = joints_to_markers(resample(bvh_to_joints(read_bvh(bvh_01_01)), 60), ms)[:180]
    return {"world": world, "names": ms.names, "pelvis": (ms.names.index("LHip"), ms.names.index("RHip"))}


def test_known_projection(clip):
    world, pelvis = clip["world"], clip["pelvis"]
    cfg = camera_config(distance_m=[4.0, 4.0], height_m=[1.5, 1.5], pitch_deg=[0, 0], roll_deg=[0, 0],
                        focal_long_side=[0.72, 0.72], portrait_share=1.0)  # fmt: skip
    forward = facing_direction(world[:, pelvis[0]], world[:, pelvis[1]])
    cam = place_phone(world, pelvis, forward, np.random.default_rng(3), cfg)
    centre = 0.5 * (world[:, pelvis[0]] + world[:, pelvis[1]]).mean(axis=0)
    assert np.linalg.norm((cam.position_m - centre)[[0, 2]]) == pytest.approx(4.0)
    assert cam.position_m[1] == pytest.approx(world[..., 1].min() + 1.5)
    assert (cam.width, cam.height) == (1080, 1920) and cam.K[0, 0] == pytest.approx(0.72 * 1920)
    assert np.allclose(cam.rotation @ cam.rotation.T, np.eye(3)) and np.linalg.det(cam.rotation) == pytest.approx(1)
    # the camera looks at the mean pelvis: it projects to the image centre
    assert np.allclose(project(cam.to_camera(centre[None]), cam.K)[0], [540, 960], atol=1e-6)
    # a point straight above the pelvis is straight above it in the image (no roll), 1 m higher
    above = project(cam.to_camera(centre[None] + [0, 1.0, 0]), cam.K)[0]
    assert above[0] == pytest.approx(540, abs=1e-6) and above[1] < 960
    # pinhole by hand: K [R (p − c)]
    p = world[50, 3]
    by_hand = cam.K @ (cam.rotation @ (p - cam.position_m))
    assert np.allclose(project(cam.to_camera(p[None]), cam.K)[0], by_hand[:2] / by_hand[2])
    # yaw: the camera's direction from the subject, measured from its facing direction
    d = (cam.position_m - centre)[[0, 2]]
    f = forward[[0, 2]]
    yaw = np.degrees(np.arctan2(f[0] * d[1] - f[1] * d[0], f @ d))
    assert abs(((abs(yaw) - abs(cam.azimuth_deg)) + 180) % 360 - 180) < 1e-6


def test_roll_tilts_the_horizon(clip):
    world, pelvis = clip["world"], clip["pelvis"]
    forward = facing_direction(world[:, pelvis[0]], world[:, pelvis[1]])
    cam = place_phone(
        world, pelvis, forward, np.random.default_rng(1), camera_config(roll_deg=[10, 10], pitch_deg=[0, 0])
    )
    centre = 0.5 * (world[:, pelvis[0]] + world[:, pelvis[1]]).mean(axis=0)
    side = np.cross([0.0, 1.0, 0.0], centre - cam.position_m)
    side = side / np.linalg.norm(side) * 0.5
    a, b = project(cam.to_camera(np.stack([centre - side, centre + side])), cam.K)
    tilt = np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0]))
    assert abs(abs(((tilt + 90) % 180) - 90) - 10) < 0.5


def test_detector_errors_at_their_rates(clip):
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 1000, (3000, 18, 2))
    mirror = mirror_index(clip["names"])
    cfg = camera_config(outlier_rate=0.02, drop_rate=0.03, swap_rate_hz=0.5, swap_duration_s=[0.2, 0.2])
    out, masks = detected_pixels(pixels, mirror, FPS, np.random.default_rng(1), cfg)
    assert np.isnan(out[masks["dropped"]]).all() and masks["dropped"].mean() == pytest.approx(0.03, abs=0.005)
    clean = ~masks["dropped"] & ~masks["outliers"] & ~masks["swapped"][:, None]
    assert (out - pixels)[clean].std() == pytest.approx(3.0, rel=0.05)
    off = np.linalg.norm(out - pixels, axis=-1)[masks["outliers"] & ~masks["dropped"] & ~masks["swapped"][:, None]]
    assert masks["outliers"].mean() == pytest.approx(0.02, abs=0.004) and off.min() > 30 - 12 and off.max() < 150 + 12
    swapped = masks["swapped"]
    assert 0.05 < swapped.mean() < 0.15  # 0.5 episodes/s × 0.2 s, overlaps aside
    knee, other = clip["names"].index("LKnee"), clip["names"].index("RKnee")
    ok = swapped & ~masks["dropped"][:, knee] & ~masks["outliers"][:, knee]
    assert np.abs(out[ok, knee] - pixels[ok, other]).max() < 20


def test_mirror_pairs_left_and_right():
    names = ["Neck", "LHip", "RHip", "midHip", "r_knee_study", "L_knee_study", "C7_study"]
    assert mirror_index(names).tolist() == [0, 2, 1, 3, 5, 4, 6]


def test_the_capture_reprojects_to_the_detections(clip):
    world, pelvis = clip["world"], clip["pelvis"]
    forward = facing_direction(world[:, pelvis[0]], world[:, pelvis[1]])
    cam = place_phone(world, pelvis, forward, np.random.default_rng(5), camera_config())
    true = cam.to_camera(world)
    pixels = project(true, cam.K)
    # a perfect detector and a perfect estimate: the capture is the truth
    markers, rays = capture_on_rays(true, pixels, cam.K, np.zeros(pixels.shape[:2], bool))
    assert np.allclose(markers, true, atol=1e-9)
    # a wrong depth estimate stays on the detected rays: every marker projects to its pixel
    estimate = true.copy()
    estimate[..., 2] += 0.1 * np.random.default_rng(0).standard_normal(estimate.shape[:2])
    detected, masks = detected_pixels(
        pixels, mirror_index(clip["names"]), FPS, np.random.default_rng(2), camera_config()
    )
    markers, _ = capture_on_rays(estimate, detected, cam.K, masks["dropped"])
    kept = ~masks["dropped"]
    assert np.allclose(project(markers, cam.K)[kept], detected[kept], atol=1e-6)
    assert np.isfinite(markers).all()  # dropped points keep the estimate's place


def test_virtual_corruption_is_seeded_and_on_its_rays(clip):
    cfg = CorruptionConfig.from_dict(config_section("corruption", {"camera": "virtual", "error_model": "fitted"}))
    kwargs = dict(clip="c", variant=1, seed=3, cfg=cfg, pelvis=clip["pelvis"], groups=["pelvis"] * 18, limbs=[],
                  mirror=mirror_index(clip["names"]))  # fmt: skip
    a, b = corrupt(clip["world"], FPS, **kwargs), corrupt(clip["world"], FPS, **kwargs)
    assert np.array_equal(a["observed"], b["observed"])
    ok = np.isfinite(a["rays"]).all(axis=-1)
    assert ok.mean() > 0.95
    on_ray = a["observed"][..., :2] / a["observed"][..., 2:]
    assert np.allclose(on_ray[ok], a["rays"][ok], atol=1e-9)
    err = np.linalg.norm(a["observed"] - a["true"], axis=-1)
    assert 0.02 < np.median(err) < 0.5
    with pytest.raises(ValueError, match="not orbit or virtual"):
        CorruptionConfig.from_dict(config_section("corruption", {"camera": "drone"}))
