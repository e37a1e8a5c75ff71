"""Triangulation from calibrated views: undistorted DLT, refined on the pixel reprojection
error, batched over points; and the choice of the views each point is triangulated from.

Each point needs at least ``min_views`` views (default 3): two views can agree on a wrong
point (a 1.5 m shank) when the cameras stand close together. The views are chosen as
Pose2Sim's triangulation chooses them: among the subsets of the available views with at least
``min_views`` members whose worst reprojection error is under ``gate_px``, the largest whose
mean error is at most ``prefer_px`` (ties: the lowest mean error); where none is that good,
the subset with the lowest mean error (leaving out the view that disagrees). A point with no
subset under the gate is dropped, never guessed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from depthrefine.multiview.calibration import Camera

GAUSS_NEWTON_STEPS = 5  # from the DLT point the pixel error converges in 3–4 steps


def projection_matrices(cameras: list[Camera]) -> np.ndarray:
    """(V, 3, 4) [R | t] of each camera, for undistorted normalised image coordinates."""
    return np.stack([np.hstack([c.R, c.t[:, None]]) for c in cameras])


def dlt(P: np.ndarray, xy: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Linear triangulation. P (V, 3, 4); xy (N, V, 2) normalised undistorted coordinates;
    used (N, V) bool. Returns (N, 3); NaN where fewer than two views are used."""
    rows = np.concatenate(
        [xy[..., 0:1] * P[None, :, 2] - P[None, :, 0], xy[..., 1:2] * P[None, :, 2] - P[None, :, 1]], axis=1
    )  # (N, 2V, 4)
    w = np.concatenate([used, used], axis=1).astype(float)[..., None]
    A = np.nan_to_num(rows) * w
    _, _, vt = np.linalg.svd(A)
    X = vt[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = X[:, :3] / X[:, 3:4]
    out[used.sum(axis=1) < 2] = np.nan
    return out


def refine_points(cameras: list[Camera], X: np.ndarray, px: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Gauss–Newton from X (N, 3) on the squared pixel error of the views ``used`` (N, V),
    distortion included (the geometric optimum; DLT minimises an algebraic error that weights
    the views by their depth). On the lab session it lowers the median error by ~0.3 px."""
    import cv2

    X = X.copy()
    ok = np.isfinite(X).all(axis=1) & (used.sum(axis=1) >= 2)
    for _ in range(GAUSS_NEWTON_STEPS):
        JtJ, Jtr = np.zeros((len(X), 3, 3)), np.zeros((len(X), 3))
        for v, cam in enumerate(cameras):
            rows = ok & used[:, v]
            if not rows.any():
                continue
            proj, jac = cv2.projectPoints(
                np.ascontiguousarray(X[rows]), cv2.Rodrigues(cam.R)[0], cam.t.astype(np.float64), cam.K, cam.dist
            )
            J = jac[:, 3:6].reshape(-1, 2, 3) @ cam.R  # d pixel / d t, times d t / d X = R
            r = proj.reshape(-1, 2) - px[rows, v]
            JtJ[rows] += np.einsum("nki,nkj->nij", J, J)
            Jtr[rows] += np.einsum("nki,nk->ni", J, r)
        X[ok] -= np.linalg.solve(JtJ[ok] + 1e-6 * np.eye(3), Jtr[ok][..., None])[..., 0]
    return X


def reprojection_px(cameras: list[Camera], X: np.ndarray, px: np.ndarray) -> np.ndarray:
    """(N, V) pixel distance between each camera's projection of X (N, 3) and px (N, V, 2)."""
    out = np.full(px.shape[:2], np.nan)
    good = np.isfinite(X).all(axis=1)
    for v, cam in enumerate(cameras):
        if good.any():
            proj = cam.project(X[good])
            out[good, v] = np.linalg.norm(proj - px[good, v], axis=-1)
    return out


@dataclass
class Triangulated:
    points: np.ndarray  # (N, 3) world, metres; NaN where dropped
    error_px: np.ndarray  # (N,) mean reprojection error over the views used
    views: np.ndarray  # (N, V) bool: the views each point was triangulated from
    per_view_px: np.ndarray  # (N, V) reprojection error in every view that saw the point


def triangulate(
    cameras: list[Camera],
    px: np.ndarray,
    seen: np.ndarray,
    *,
    gate_px: float,
    min_views: int = 3,
    prefer_px: float = math.inf,
) -> Triangulated:
    """Points (N, V, 2) distorted pixels seen in (N, V) → the view subset per point (module doc),
    each point refined on its views' pixel error. ``prefer_px`` = inf keeps the largest subset
    under the gate."""
    n, v = seen.shape
    P = projection_matrices(cameras)
    xy = np.full((n, v, 2), np.nan)
    for k, cam in enumerate(cameras):
        if seen[:, k].any():
            xy[seen[:, k], k] = cam.undistort(px[seen[:, k], k])
    points = np.full((n, 3), np.nan)
    views = np.zeros((n, v), dtype=bool)
    best = np.full(n, np.inf)  # rank: good subsets (mean ≤ prefer_px) by size, then the rest by error
    for size in range(v, min_views - 1, -1):
        for subset in itertools.combinations(range(v), size):
            mask = np.zeros(v, dtype=bool)
            mask[list(subset)] = True
            ok = seen[:, mask].all(axis=1)
            if not ok.any():
                continue
            used = np.broadcast_to(mask, (int(ok.sum()), v))
            X = refine_points(cameras, dlt(P, xy[ok], used), px[ok], used)
            err = reprojection_px(cameras, X, px[ok])[:, mask]
            worst, mean = err.max(axis=1), err.mean(axis=1)
            rank = np.where(mean <= prefer_px, mean - 1e6 * size, 1e9 + mean)
            idx = np.flatnonzero(ok)
            better = (worst <= gate_px) & (rank < best[idx])
            sel = idx[better]
            points[sel], best[sel], views[sel] = X[better], rank[better], mask
    per_view = reprojection_px(cameras, points, np.where(seen[..., None], px, np.nan))
    kept = views.any(axis=1)
    error = np.full(n, np.nan)
    error[kept] = np.nanmean(np.where(views[kept], per_view[kept], np.nan), axis=1)
    return Triangulated(points, error, views, per_view)
