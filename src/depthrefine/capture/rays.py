"""Image-consistent markers: every marker on its camera ray.

A monocular pose estimator gives two things per landmark: where it is in the image (exact up
to detection noise) and a hip-centred metric 3D position whose depth is the weak part. Put
together: the body's root translation t is the one that makes the 3D shape project onto the
2D landmarks (linear least squares per frame), each marker's depth is its relative depth plus
t_z, and x, y follow from the ray through its pixel — so every marker reprojects exactly to
where the detector saw it, and only depth is left to refine (issue 11, step 1).

Rays are stored as normalised image coordinates (x/z, y/z: undistorted, intrinsics applied),
so nothing downstream needs the camera model. Intrinsics come from a calibration when there is
one (multi-camera sessions), else from ``phone_intrinsics``.
"""

from __future__ import annotations

import numpy as np

# Focal length in units of the image's long side for a video without a calibration: a phone's
# main camera (26 mm full-frame equivalent on the 36 mm side: 26 / 36 = 0.72, ≈ 69° across the
# long side). Webcams are wider (≈ 0.55–0.65); set config video_focal when known.
PHONE_FOCAL_LONG_SIDE = 0.72


def phone_intrinsics(width: int, height: int, focal_long_side: float = PHONE_FOCAL_LONG_SIDE) -> np.ndarray:
    """K (3, 3) of a pinhole camera with square pixels, the principal point at the centre."""
    f = focal_long_side * max(width, height)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def pixels_to_rays(px: np.ndarray, K: np.ndarray, dist: np.ndarray | None = None) -> np.ndarray:
    """Pixels (..., 2) → normalised image coordinates (..., 2): the ray (x, y, 1) through each,
    lens distortion removed when ``dist`` (OpenCV k1 k2 p1 p2 [k3]) is given. NaN stays NaN."""
    px = np.asarray(px, dtype=np.float64)
    if dist is None or not np.any(dist):
        return np.stack([(px[..., 0] - K[0, 2]) / K[0, 0], (px[..., 1] - K[1, 2]) / K[1, 1]], axis=-1)
    import cv2

    out = np.full(px.shape, np.nan)
    ok = np.isfinite(px).all(axis=-1)
    if ok.any():
        flat = np.ascontiguousarray(px[ok].reshape(-1, 1, 2))
        out[ok] = cv2.undistortPoints(flat, K, np.asarray(dist, dtype=np.float64)).reshape(-1, 2)
    return out


def root_translation(relative: np.ndarray, rays: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(F, 3) translation t per frame such that relative + t lies on the rays, in least squares:
    for a marker at P = relative + t on the ray (a, b, 1), P_x − a·P_z = 0 and P_y − b·P_z = 0,
    linear in t. ``relative`` (F, M, 3) camera axes, metres; ``rays`` (F, M, 2); ``weights``
    (F, M) (detector visibility), markers without a ray or 3D point weigh 0. A frame with fewer
    than two usable markers gets NaN."""
    a, b = rays[..., 0], rays[..., 1]
    w = np.ones(a.shape) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(relative).all(axis=-1) & (w > 0)
    w = np.where(ok, w, 0.0)
    a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    X, Y, Z = (np.where(ok, relative[..., k], 0.0) for k in range(3))
    zero, one = np.zeros_like(a), np.ones_like(a)
    rows = np.stack([np.stack([one, zero, -a], -1), np.stack([zero, one, -b], -1)], axis=-2)  # (F, M, 2, 3)
    rhs = np.stack([a * Z - X, b * Z - Y], axis=-1)  # (F, M, 2)
    wr = rows * w[..., None, None]
    normal = np.einsum("fmki,fmkj->fij", wr, rows)
    target = np.einsum("fmki,fmk->fi", wr, rhs)
    t = np.full((len(a), 3), np.nan)
    good = ok.sum(axis=1) >= 2
    t[good] = np.linalg.solve(normal[good], target[good][..., None])[..., 0]
    return t


def on_rays(relative: np.ndarray, rays: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Markers (F, M, 3) in the camera frame on their rays: depth = relative depth + t_z, and
    x, y = the ray at that depth (a marker without a ray keeps relative + t)."""
    t = root_translation(relative, rays, weights)
    return at_depth_on_rays(relative + t[:, None, :], rays)


def at_depth_on_rays(xyz: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Markers (F, M, 3) moved onto their rays (F, M, 2) at their own depth (x, y = ray · z);
    a marker without a ray stays."""
    z = xyz[..., 2]
    on_ray = np.stack([rays[..., 0] * z, rays[..., 1] * z, z], axis=-1)
    return np.where(np.isfinite(rays).all(axis=-1)[..., None], on_ray, xyz).astype(xyz.dtype, copy=False)


def project(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) → pixels (..., 2), pinhole without distortion."""
    return np.stack([K[0, 0] * xyz[..., 0] / xyz[..., 2] + K[0, 2], K[1, 1] * xyz[..., 1] / xyz[..., 2] + K[1, 2]], -1)
