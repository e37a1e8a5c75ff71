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
    v = np.nanmean(np.nanmean(xyz[:, pelvis], axis=1) - np.nanmean(xyz[:, feet], axis=1), axis=0)
    return v / np.linalg.norm(v)


def fit_floor(xyz: np.ndarray, feet: np.ndarray, pelvis: np.ndarray, groups: np.ndarray | None = None) -> Floor:
    """groups: a group id per foot marker whose members share a stance height above the floor,
    e.g. heels 0 and toe tips 1: a heel marker sits higher than a toe tip, and one plane
    through both tilts by their height difference over the foot's length (3.4° on Pose2Sim's
    BlazePose markers on a synthetic walk, 2.3° with groups). Left and right in one group
    keep the roll that their distance apart fixes. The plane is then the lowest group's
    stance level. None: one group."""
    if feet.size == 0:
        raise ValueError("the marker set names no foot markers; the floor cannot be fitted")
    u = up_hint(xyz, feet, pelvis)
    feet_xyz = xyz[:, feet]  # (F, K, 3)
    h = feet_xyz @ u  # NaN where a marker is missing (a reference): it is never a stance point
    seen = np.isfinite(h).any(axis=1)
    if not seen.any():
        raise ValueError("no frame has a foot marker; the floor cannot be fitted")
    lowest = np.full(len(h), np.nan)
    lowest[seen] = np.nanmin(h[seen], axis=1)
    frames = lowest <= np.nanpercentile(lowest, STANCE_PERCENTILE)
    near = (h - lowest[:, None] <= STANCE_BAND_M) & frames[:, None]
    points = feet_xyz[near]
    groups = np.zeros(len(feet), int) if groups is None else np.asarray(groups)
    labels = np.broadcast_to(groups, near.shape)[near]
    normal, offsets = _plane(points, labels, u, groups.max() + 1)
    for _ in range(2):
        r = points @ normal - offsets[labels]
        med = np.median(r)
        keep = r <= med + 1.5 * 1.4826 * np.median(np.abs(r - med))
        if keep.sum() >= 3:
            points, labels = points[keep], labels[keep]
            normal, offsets = _plane(points, labels, u, groups.max() + 1)
    rms = float(np.sqrt(np.mean((points @ normal - offsets[labels]) ** 2)) * 1000)
    return Floor(normal, float(np.nanmin(offsets)), int(len(points)), rms)


def _plane(points: np.ndarray, labels: np.ndarray, u: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The normal of planes through each label's points (shared normal, one offset per label;
    NaN for a label without points)."""
    centres = np.full((count, 3), np.nan)
    for k in np.unique(labels):
        centres[k] = points[labels == k].mean(axis=0)
    d = points - centres[labels]
    cov = d.T @ d / len(points) + PRIOR_M2 * (np.eye(3) - np.outer(u, u))
    normal = np.linalg.eigh(cov)[1][:, 0]
    normal = normal if normal @ u > 0 else -normal
    return normal, centres @ normal
