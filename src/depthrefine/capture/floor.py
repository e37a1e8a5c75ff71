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


# The lowest BlazePose foot marker's height above the floor in stance (heel or foot index): on
# the CMU-style locomotion clips, whose floor is level at 0, the training markers' lowest foot
# marker in stance frames has a median of 2.1–3.9 cm. Its error moves the scale by
# δh / camera height: 1 cm is 0.5 % for a camera 1.9 m up.
STANCE_MARKER_HEIGHT_M = 0.03
# A camera this little above the stance feet sees them along rays that graze the floor: their
# depth, and so the scale, are not determined by the floor.
MIN_DROP_M = 0.3
SCALE_RANGE = (0.5, 2.0)  # beyond: a wrong camera height or up direction, not a body
# A foot the detector guesses (out of the frame, hidden) has a low visibility; the lab pairs'
# stance feet have medians of 0.83–0.95.
MIN_FOOT_VISIBILITY = 0.5


@dataclass(frozen=True)
class FloorScale:
    scale: float  # multiply the camera-frame markers by this (they stay on their rays)
    stance_level_m: float  # the stance feet's median height relative to the camera, before (metres, up positive)
    stance_frames: int
    stance_visibility: float  # the detector's median visibility of the stance feet (NaN: not given)


def scale_to_floor(
    xyz: np.ndarray,
    feet: np.ndarray,
    up: np.ndarray,
    camera_height_m: float,
    stance_height_m: float = STANCE_MARKER_HEIGHT_M,
    visibility: np.ndarray | None = None,
) -> FloorScale:
    """The one factor per clip that puts the feet in stance on the floor of a camera
    ``camera_height_m`` above it, ``up`` the world's up in the camera frame (docs/model.md,
    "Scale from the floor"). Markers on camera rays scaled about the camera centre stay on
    their rays: the factor changes the body's size and distance together, which one image
    cannot tell apart, and the floor can.

    Stance frames as in ``fit_floor``: each frame's lowest foot marker (along ``up``) where it
    is at or below the clip's 60th percentile; the stance level is their median. Raises
    ValueError where the floor cannot decide: the camera too near the floor, the feet not
    below it, a factor outside SCALE_RANGE, or (``visibility`` (F, M), the detector's) stance
    feet whose median visibility is under MIN_FOOT_VISIBILITY: feet out of the frame or hidden,
    whose positions the detector guessed."""
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    drop = float(camera_height_m) - stance_height_m
    if drop < MIN_DROP_M:
        raise ValueError(
            f"a camera {camera_height_m:.2f} m above the floor sees the feet along rays that graze it: "
            f"the floor does not fix the scale (needs ≥ {MIN_DROP_M + stance_height_m:.2f} m)"
        )
    level, frames, seen = stance_level(xyz, feet, u, visibility)
    if visibility is not None and not seen >= MIN_FOOT_VISIBILITY:
        raise ValueError(
            f"the feet in stance are seen with a median visibility of {seen:.2f} (under {MIN_FOOT_VISIBILITY}): "
            "out of the frame or hidden, so the floor cannot place them"
        )
    if level >= 0.0:
        raise ValueError(
            f"the feet in stance are {level:.2f} m above the camera, which is {camera_height_m:.2f} m above the "
            "floor: the camera height or its up direction is wrong"
        )
    scale = drop / -level
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        raise ValueError(
            f"the floor {camera_height_m:.2f} m below the camera asks to scale the body by {scale:.2f} "
            f"(outside {SCALE_RANGE[0]}–{SCALE_RANGE[1]}): the camera height or its up direction is wrong"
        )
    return FloorScale(float(scale), level, frames, seen)


def stance_level(
    xyz: np.ndarray, feet: np.ndarray, up: np.ndarray, visibility: np.ndarray | None = None
) -> tuple[float, int, float]:
    """The feet's median level along ``up`` (unit) in stance, the stance frames and the median
    visibility of their lowest markers (NaN without ``visibility``): each frame's lowest foot
    marker where it is at or below the clip's 60th percentile, as ``fit_floor`` picks them (NaN
    markers are never the lowest; frames without any are skipped)."""
    if np.size(feet) == 0:
        raise ValueError("the marker set names no foot markers; the floor cannot be found from the feet")
    h = xyz[:, feet] @ np.asarray(up, dtype=np.float64)
    seen = np.isfinite(h).any(axis=1)
    if not seen.any():
        raise ValueError("no frame has a foot marker; the floor cannot be found from the feet")
    which = np.nanargmin(h[seen], axis=1)
    lowest = np.take_along_axis(h[seen], which[:, None], axis=1)[:, 0]
    stance = lowest <= np.percentile(lowest, STANCE_PERCENTILE)
    visible = float("nan")
    if visibility is not None:
        v = np.asarray(visibility)[:, feet][seen]
        visible = float(np.median(np.take_along_axis(v, which[:, None], axis=1)[:, 0][stance]))
    return float(np.median(lowest[stance])), int(stance.sum()), visible
