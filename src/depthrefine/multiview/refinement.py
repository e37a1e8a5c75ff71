"""Refining a calibration on the people themselves: one small rotation per camera about its
fixed centre, fitted jointly with the 3D points under a robust loss.

Why: this lab's Qualisys calibration leaves consistent 2D biases of 10–27 px per camera (the
same for face, hips and feet), which a rotation of ≤ 2° removes; camera centres and
intrinsics are kept. scipy's least_squares (trf, soft-L1 loss, sparse Jacobian) solves it.
"""

from __future__ import annotations

import numpy as np

from depthrefine.multiview.calibration import Camera
from depthrefine.multiview.triangulation import Triangulated


def calibration_observations(
    triangulated: list[Triangulated], pixels: list[np.ndarray], gate_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points (N, 3), pixels (N, V, 2) and seen flags (N, V) the rotations are fitted on:
    every triangulated point, in every view within ``gate_px`` of it — not only the views it
    was triangulated from. A camera's bias is what makes the view choice leave its views out,
    and the fit must see them to remove it (lab session: 4-view median 13.21 → 12.92 px,
    the man's reference 10.23 → 10.00 px); the robust loss takes the outliers."""
    points = np.concatenate([t.points for t in triangulated])
    per_view = np.concatenate([t.per_view_px for t in triangulated])
    kept = np.isfinite(points).all(axis=1)
    seen = np.nan_to_num(per_view, nan=np.inf) <= gate_px
    return points[kept], np.concatenate(pixels)[kept], seen[kept]


def refine_rotations(
    cameras: list[Camera],
    points: np.ndarray,
    px: np.ndarray,
    seen: np.ndarray,
    *,
    max_deg: float,
    loss_scale_px: float = 10.0,
    max_nfev: int = 50,
) -> tuple[list[Camera], np.ndarray]:
    """points (N, 3) initial world points, px (N, V, 2) their pixels, seen (N, V) bool.
    Returns the rotated cameras and the rotations (V, 3) in degrees (rotation vectors)."""
    from scipy.optimize import least_squares
    from scipy.sparse import lil_matrix

    n, v = seen.shape
    obs_point, obs_view = np.nonzero(seen)
    m = len(obs_point)
    bound = np.radians(max_deg) / np.sqrt(3)  # each component, so that |rvec| ≤ max_deg

    def residuals(params):
        rvecs, X = params[: 3 * v].reshape(v, 3), params[3 * v :].reshape(n, 3)
        out = np.empty((m, 2))
        for k, cam in enumerate(cameras):
            rows = obs_view == k
            if rows.any():
                out[rows] = cam.rotated(rvecs[k]).project(X[obs_point[rows]]) - px[obs_point[rows], k]
        return out.ravel()

    sparsity = lil_matrix((2 * m, 3 * v + 3 * n), dtype=int)
    for i, (p, k) in enumerate(zip(obs_point, obs_view)):
        sparsity[2 * i : 2 * i + 2, 3 * k : 3 * k + 3] = 1
        sparsity[2 * i : 2 * i + 2, 3 * v + 3 * p : 3 * v + 3 * p + 3] = 1
    x0 = np.concatenate([np.zeros(3 * v), points.ravel()])
    lower = np.concatenate([np.full(3 * v, -bound), np.full(3 * n, -np.inf)])
    upper = -lower
    fit = least_squares(
        residuals,
        x0,
        jac_sparsity=sparsity,
        bounds=(lower, upper),
        loss="soft_l1",
        f_scale=loss_scale_px,
        x_scale="jac",
        method="trf",
        max_nfev=max_nfev,
    )
    rvecs = fit.x[: 3 * v].reshape(v, 3)
    return [cam.rotated(r) for cam, r in zip(cameras, rvecs)], np.degrees(rvecs)
