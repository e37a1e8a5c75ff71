"""The floor plane of a sequence in camera coordinates, from the feet's lowest stance positions.

In the camera frame the floor is tilted (camera pitch, roll), so it is fitted as a plane, not
assumed along an axis. Steps (docs/metrics.md):
1. up hint: from the mean foot position towards the pelvis (people are upright most of the time);
2. stance points: per frame, the foot markers within 2 cm (along the hint) of that frame's
   lowest foot marker; frames whose lowest point is above the 60th percentile are dropped
   (swing-only or flight frames);
3. plane: the normal minimises the points' squared distances plus a small pull towards the hint,
   λ(1 − (n·u)²) with λ = (10 mm)², so a walk along one line, whose stance points leave the
   plane's roll undetermined, keeps the hint's roll; the plane passes through their centroid;
4. twice: drop the points more than 1.5 robust σ (MAD) above the plane — early swing and heel
   rise — and refit (on a synthetic tilted walk: normal within 0.4° instead of 1.2°).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STANCE_BAND_M = 0.02
STANCE_PERCENTILE = 60.0
PRIOR_M2 = 0.010**2


@dataclass(frozen=True)
class Floor:
    normal: np.ndarray  # (3,) unit, pointing up (from the floor towards the body)
    offset: float  # plane: normal · p = offset (metres)
    points: int  # stance samples the plane was fitted to
    rms_mm: float  # RMS distance of those samples from the plane

    def height(self, xyz: np.ndarray) -> np.ndarray:
        """Signed height above the floor (metres) of points (..., 3)."""
        return xyz @ self.normal - self.offset


def up_hint(xyz: np.ndarray, feet: np.ndarray, pelvis: np.ndarray) -> np.ndarray:
    v = (xyz[:, pelvis].mean(axis=1) - xyz[:, feet].mean(axis=1)).mean(axis=0)
    return v / np.linalg.norm(v)


def fit_floor(xyz: np.ndarray, feet: np.ndarray, pelvis: np.ndarray) -> Floor:
    if feet.size == 0:
        raise ValueError("the marker set names no foot markers; the floor cannot be fitted")
    u = up_hint(xyz, feet, pelvis)
    feet_xyz = xyz[:, feet]  # (F, K, 3)
    h = feet_xyz @ u
    lowest = h.min(axis=1)
    frames = lowest <= np.percentile(lowest, STANCE_PERCENTILE)
    near = (h - lowest[:, None] <= STANCE_BAND_M) & frames[:, None]
    points = feet_xyz[near]
    normal, offset = _plane(points, u)
    for _ in range(2):
        r = points @ normal - offset
        med = np.median(r)
        keep = r <= med + 1.5 * 1.4826 * np.median(np.abs(r - med))
        if keep.sum() >= 3:
            points = points[keep]
            normal, offset = _plane(points, u)
    rms = float(np.sqrt(np.mean((points @ normal - offset) ** 2)) * 1000)
    return Floor(normal, offset, int(len(points)), rms)


def _plane(points: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, float]:
    centre = points.mean(axis=0)
    d = points - centre
    cov = d.T @ d / len(points) + PRIOR_M2 * (np.eye(3) - np.outer(u, u))
    normal = np.linalg.eigh(cov)[1][:, 0]
    normal = normal if normal @ u > 0 else -normal
    return normal, float(normal @ centre)
