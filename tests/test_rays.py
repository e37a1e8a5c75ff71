"""Markers on their camera rays: a point projects back to its pixel, the root translation is
recovered, and lens distortion is taken out by the calibration's model."""

import numpy as np
import pytest

from depthrefine.capture.rays import on_rays, phone_intrinsics, pixels_to_rays, project, root_translation


def body(frames=20, markers=18, seed=0):
    """A body-sized point cloud (metres, hip-centred) walking 3–6 m in front of the camera."""
    rng = np.random.default_rng(seed)
    shape = rng.normal(scale=[0.2, 0.45, 0.15], size=(markers, 3))
    root = np.stack([np.linspace(-1, 1, frames), np.full(frames, 0.3), np.linspace(3, 6, frames)], axis=1)
    return shape[None] - shape[:1].mean(0) + np.zeros((frames, 1, 1)), root


def test_phone_intrinsics():
    K = phone_intrinsics(1080, 1920)
    assert K[0, 0] == K[1, 1] == pytest.approx(0.72 * 1920) and (K[0, 2], K[1, 2]) == (540, 960)
    fov = 2 * np.degrees(np.arctan(1920 / 2 / K[1, 1]))
    assert 65 < fov < 72  # across the long side, a phone's main camera


def test_exact_rays_recover_the_translation_and_reproject_to_the_pixels():
    relative, root = body()
    K = phone_intrinsics(1080, 1920)
    pixels = project(relative + root[:, None], K)
    rays = pixels_to_rays(pixels, K)
    assert root_translation(relative, rays) == pytest.approx(root, abs=1e-9)
    placed = on_rays(relative, rays)
    assert project(placed, K) == pytest.approx(pixels, abs=1e-6)


def test_a_wrong_relative_depth_keeps_the_pixel_and_moves_along_the_ray():
    """Depth is the estimator's weak part: with the relative depths wrong, every marker still
    reprojects exactly to its pixel; its 3D error is along the ray (mostly depth)."""
    relative, root = body()
    K = phone_intrinsics(1920, 1080)
    truth = relative + root[:, None]
    pixels = project(truth, K)
    noisy = relative.copy()
    noisy[..., 2] += np.random.default_rng(1).normal(scale=0.08, size=noisy.shape[:2])
    placed = on_rays(noisy, pixels_to_rays(pixels, K))
    assert project(placed, K) == pytest.approx(pixels, abs=1e-6)
    error = placed - truth
    along = np.abs(error[..., 2])
    across = np.linalg.norm(error[..., :2] - (truth[..., :2] / truth[..., 2:]) * error[..., 2:], axis=-1)
    assert across.max() < 1e-9 and along.mean() > 0.03


def test_visibility_weights_and_missing_rays():
    relative, root = body(frames=3)
    K = phone_intrinsics(1000, 1000)
    rays = pixels_to_rays(project(relative + root[:, None], K), K)
    rays[:, 0] = [50.0, -50.0]  # a wild detection …
    weights = np.ones(rays.shape[:2])
    weights[:, 0] = 0.0  # … with visibility 0 does not move the fit
    assert root_translation(relative, rays, weights) == pytest.approx(root, abs=1e-9)
    rays[:, 1] = np.nan  # a marker without a ray keeps relative + t
    placed = on_rays(relative, rays, weights)
    assert placed[:, 1] == pytest.approx(relative[:, 1] + root, abs=1e-9)
    assert np.isnan(root_translation(relative[:, :1], rays[:, :1])).all()  # < 2 markers: unknown


def test_distorted_pixels_are_undistorted_by_the_calibration():
    import cv2

    relative, root = body()
    K = np.array([[1400.0, 0, 530], [0, 1405.0, 975], [0, 0, 1]])
    dist = np.array([-0.12, 0.05, 0.001, -0.0005, 0.0])
    truth = (relative + root[:, None]).reshape(-1, 3)
    px, _ = cv2.projectPoints(truth, np.zeros(3), np.zeros(3), K, dist)
    rays = pixels_to_rays(px.reshape(relative.shape[:2] + (2,)), K, dist)
    assert on_rays(relative, rays) == pytest.approx(truth.reshape(relative.shape), abs=1e-5)
    assert not np.allclose(pixels_to_rays(px.reshape(relative.shape[:2] + (2,)), K), rays, atol=1e-3)
