"""The camera's up direction settles the one whole-body ambiguity that a single view leaves:
which way the body leans in depth.

Mirrored about the plane perpendicular to the line of sight, a body's long axis projects to
the same image line with the same length, so one camera cannot tell a body leaning towards it
from one leaning away; BlazePose sometimes takes the wrong one for a whole clip (the lab
session's cam04 × p1: 26° from upright against the reference's 1°). Where the camera's
up direction is known (a calibration, or the pitch and roll of a levelled phone in config
``cameras``), the lean nearer upright is taken: the clip is turned as a whole, about its hip,
onto the mirrored lean, and the bone fit then puts it back on the rays. Where both are
equally far from upright the two leans are nearly the same pose, so the choice needs no margin.

Conventions (docs/data.md): camera frame x right, y down, z forward; ``up`` is the world's
up direction in that frame, (0, −1, 0) for a level camera.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

# The body's long axis, mid-ankles → mid-shoulders, and the hips (the line of sight, the centre
# of the turn), by the names of the video marker set or OpenCap's, whichever the markers have.
TOP_MARKERS = (("LShoulder", "RShoulder"), ("L_shoulder_study", "r_shoulder_study"))
BOTTOM_MARKERS = (("LAnkle", "RAnkle"), ("L_ankle_study", "r_ankle_study"))
HIP_MARKERS = (("LHip", "RHip"), ("LHJC_study", "RHJC_study"))


def camera_up(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """The world's up direction in the frame of a camera pitched down by ``pitch_deg`` and
    rolled by ``roll_deg`` (positive: the image turned clockwise, so that up leans right)."""
    pitch, roll = np.radians(pitch_deg), np.radians(roll_deg)
    return np.array([np.sin(roll) * np.cos(pitch), -np.cos(roll) * np.cos(pitch), -np.sin(pitch)])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking unit vector a onto unit vector b."""
    from scipy.spatial.transform import Rotation

    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3)
    return Rotation.from_rotvec(axis / s * np.arctan2(s, a @ b)).as_matrix()


def _indices(names: list[str], alternatives: tuple[tuple[str, str], ...]) -> list[int]:
    for pair in alternatives:
        if all(n in names for n in pair):
            return [names.index(n) for n in pair]
    raise ValueError(f"the body's lean needs the markers {' or '.join(map(str, alternatives))}")


def body_axis(xyz: np.ndarray, names: list[str]) -> np.ndarray:
    """The clip's mean long-axis direction (3,) of markers (F, M, 3): mid-ankles → mid-shoulders."""
    top = xyz[:, _indices(names, TOP_MARKERS)].mean(axis=1)
    bottom = xyz[:, _indices(names, BOTTOM_MARKERS)].mean(axis=1)
    per_frame = _unit(top - bottom)
    return _unit(np.nanmean(per_frame[np.isfinite(per_frame).all(axis=1)], axis=0))


def nearer_upright(relative: np.ndarray, rays: np.ndarray, names: list[str], up: np.ndarray) -> tuple[np.ndarray, dict]:
    """Markers (F, M, 3, camera axes; any origin) turned, if need be, onto the lean of the
    body's long axis nearer ``up`` (module doc); ``rays`` (F, M, 2) give the line of sight to
    the hips. Returns the markers and what was decided (degrees from upright)."""
    up = _unit(np.asarray(up, dtype=np.float64))
    axis = body_axis(relative, names)
    hips = _indices(names, HIP_MARKERS)
    hip_rays = rays[:, hips].reshape(-1, 2)
    sight = _unit(np.append(hip_rays[np.isfinite(hip_rays).all(axis=1)].mean(axis=0), 1.0))
    mirrored = _unit(axis - 2.0 * (axis @ sight) * sight)
    info = {
        "camera_up": np.round(up, 4).tolist(),
        "lean_deg": round(_angle_deg(axis, up), 1),
        "mirrored_lean_deg": round(_angle_deg(mirrored, up), 1),
    }
    info["turned"] = info["mirrored_lean_deg"] < info["lean_deg"]
    if not info["turned"]:
        return relative, info
    R = _rotation_between(axis, mirrored)
    centre = relative[:, hips].mean(axis=1, keepdims=True)
    log.info(
        "the body leans %.0f° from the camera's up; the mirrored lean (%.0f°) is taken",
        info["lean_deg"],
        info["mirrored_lean_deg"],
    )
    return centre + (relative - centre) @ R.T, info
