"""Triangulation from calibrated views: undistorted DLT, batched over points, and the choice
of the views each point is triangulated from.

Each point needs at least ``min_views`` views (default 3): two views can agree on a wrong
point (a 1.5 m shank) when the cameras stand close together. Among the subsets of the
available views with at least ``min_views`` members, the largest whose worst reprojection
error is under the gate is kept (ties: the lowest mean error); a point with none is dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from depthrefine.multiview.calibration import Camera


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
    cameras: list[Camera], px: np.ndarray, seen: np.ndarray, *, gate_px: float, min_views: int = 3
) -> Triangulated:
    """Points (N, V, 2) distorted pixels seen in (N, V) → the best view subset per point (module doc)."""
    n, v = seen.shape
    P = projection_matrices(cameras)
    xy = np.full((n, v, 2), np.nan)
    for k, cam in enumerate(cameras):
        if seen[:, k].any():
            xy[seen[:, k], k] = cam.undistort(px[seen[:, k], k])
    best_points = np.full((n, 3), np.nan)
    best_err = np.full(n, np.inf)
    best_views = np.zeros((n, v), dtype=bool)
    best_size = np.zeros(n, dtype=int)
    for size in range(v, min_views - 1, -1):
        for subset in itertools.combinations(range(v), size):
            mask = np.zeros(v, dtype=bool)
            mask[list(subset)] = True
            ok = seen[:, mask].all(axis=1) & (best_size <= size)
            if not ok.any():
                continue
            X = dlt(P, xy[ok], np.broadcast_to(mask, (int(ok.sum()), v)))
            err = reprojection_px(cameras, X, px[ok])[:, mask]
            worst, mean = err.max(axis=1), err.mean(axis=1)
            idx = np.flatnonzero(ok)
            better = (worst <= gate_px) & ((best_size[idx] < size) | (mean < best_err[idx]))
            sel = idx[better]
            best_points[sel], best_err[sel], best_size[sel] = X[better], mean[better], size
            best_views[sel] = mask
    dropped = best_size == 0
    best_err[dropped] = np.nan
    per_view = reprojection_px(cameras, best_points, np.where(seen[..., None], px, np.nan))
    return Triangulated(best_points, best_err, best_views, per_view)
