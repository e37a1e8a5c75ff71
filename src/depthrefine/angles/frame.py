"""The levelled OpenSim frame of a recording: Y up (the fitted floor's normal, each kind of foot
marker at its own stance height: capture/floor.py), X the subject's
mean facing direction on the floor, Z to the subject's right, origin on the floor below the
clip's mean pelvis; metres.

Why levelled: OpenSim's pelvis angles are Euler angles in ground axes, tilt (Z) first, so a
camera-frame "up" moves pelvis tilt by the camera's pitch (≈ 25° in the lab clip), and a
subject facing along Z swaps tilt and list. One frame per recording, shared by every capture
of it (raw, filtered, refined, reference), so that their angles differ by their markers only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from depthrefine.capture.floor import fit_floor

log = logging.getLogger(__name__)

# A facing direction whose per-frame unit vectors average to less than this (the subject
# turned round) leaves pelvis tilt and list mixed over the clip: worth a warning.
MIN_HEADING_CONSISTENCY = 0.5


@dataclass(frozen=True)
class OpenSimFrame:
    rotation: np.ndarray  # (3, 3): rows are OpenSim X (forward), Y (up), Z (right) in camera axes
    origin: np.ndarray  # (3,) camera-frame point that becomes the OpenSim origin
    heading_consistency: float  # length of the mean per-frame facing unit vector (1 = never turned)

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) → OpenSim frame."""
        return (xyz - self.origin) @ self.rotation.T

    def to_dict(self) -> dict:
        return {
            "rotation": self.rotation.tolist(),
            "origin_m": self.origin.tolist(),
            "heading_consistency": self.heading_consistency,
        }


def fit_frame(xyz: np.ndarray, feet: np.ndarray, groups: np.ndarray, left_hip: int, right_hip: int) -> OpenSimFrame:
    """xyz (F, M, 3) camera frame, metres; feet: the foot marker indices (floor fit) and their
    groups (same stance height: left and right heel, …); the hips give the left→right axis,
    whose cross product with up is the facing direction."""
    hips = np.array([left_hip, right_hip])
    floor = fit_floor(xyz, np.asarray(feet), hips, groups)
    up = floor.normal
    right = xyz[:, right_hip] - xyz[:, left_hip]
    right = right - np.outer(right @ up, up)
    ok = np.isfinite(right).all(axis=1) & (np.linalg.norm(right, axis=1) > 1e-6)
    if not ok.any():
        raise ValueError("no frame has both hips: the subject's facing direction is unknown")
    forward = np.cross(up, right[ok])  # X × Y = Z in OpenSim: forward × up = right
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    mean = forward.mean(axis=0)
    consistency = float(np.linalg.norm(mean))
    if consistency < MIN_HEADING_CONSISTENCY:
        log.warning(
            "the subject's facing direction changes over the clip (consistency %.2f < %.2f): "
            "pelvis tilt and list mix where the subject faces away from the mean direction",
            consistency,
            MIN_HEADING_CONSISTENCY,
        )
    x = mean / consistency
    z = np.cross(x, up)
    pelvis = np.nanmean(xyz[:, hips].reshape(-1, 3), axis=0)
    origin = pelvis - floor.height(pelvis) * up
    return OpenSimFrame(np.stack([x, up, z]), origin, consistency)
