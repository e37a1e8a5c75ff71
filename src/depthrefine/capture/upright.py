"""The camera's up direction settles the one whole-body ambiguity that a single view leaves:
which way the body leans in depth.

Mirrored about the plane perpendicular to the line of sight, a body's long axis projects to
the same image line with the same length, so one camera cannot tell a body leaning towards it
from one leaning away; BlazePose takes the wrong one for stretches of frames (the lab
session's cam04 × p1 from its 10th frame on: 26° from upright against the reference's 1°).
Where the camera's up direction is known (a calibration, or the pitch and roll of a levelled
phone in config ``cameras``), each frame takes the lean nearer upright: the frame is turned
about its hips onto the mirrored lean, and the bone fit then puts it back on the rays. A
mirrored lean must be MARGIN_DEG nearer upright (filmed from the body's height the two leans
of an upright body straddle upright, and noise would decide), and a choice must hold for
MIN_RUN_S (a median filter of the per-frame choice). A person lying down has no upright lean
to prefer.

Conventions (docs/data.md): camera frame x right, y down, z forward; ``up`` is the world's
up direction in that frame, (0, −1, 0) for a level camera.
"""

from __future__ import annotations

import logging

import numpy as np

from depthrefine.capture.bonefit import _unit

log = logging.getLogger(__name__)

# The body's long axis, mid-ankles → mid-shoulders, and the hips (the line of sight, the centre
# of the turn), by the names of the video marker set or OpenCap's, whichever the markers have.
TOP_MARKERS = (("LShoulder", "RShoulder"), ("L_shoulder_study", "r_shoulder_study"))
BOTTOM_MARKERS = (("LAnkle", "RAnkle"), ("L_ankle_study", "r_ankle_study"))
HIP_MARKERS = (("LHip", "RHip"), ("LHJC_study", "RHJC_study"))
# A lean choice holds for at least this long: shorter runs of one choice are taken for noise
# where the two leans are nearly as far from upright (on the lab pairs 1, 31 and 61 frames
# turn the same frames but for a few; BlazePose's own flips last tens of frames).
MIN_RUN_S = 0.5
# The mirrored lean is taken only where it is this much nearer upright. Filmed from the body's
# height the two leans of an upright body straddle upright, and the depth noise decides which
# is nearer: on a synthetic upright walk (bench_bonefit's CMU walk seen along a line of sight
# 4° from horizontal, 50 mm depth noise) a 0° margin turned 20 % of the frames and raised the
# chain's depth error 15.5 → 28.3 mm (white noise; 45.3 → 56.4 mm with 2 Hz noise), 5°: 17.0 /
# 47.8 mm, 10°: none turned. On the lab pairs 10° keeps cam04 × p1's 17 turned frames and
# drops cam04 × p0's 20.
MARGIN_DEG = 10.0


def camera_up(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """The world's up direction in the frame of a camera pitched down by ``pitch_deg`` and
    rolled by ``roll_deg`` (positive: the image turned clockwise, so that up leans right)."""
    pitch, roll = np.radians(pitch_deg), np.radians(roll_deg)
    return np.array([np.sin(roll) * np.cos(pitch), -np.cos(roll) * np.cos(pitch), -np.sin(pitch)])


def _rotations_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotations (F, 3, 3) taking unit vectors a (F, 3) onto b (F, 3)."""
    from scipy.spatial.transform import Rotation

    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.arctan2(s[:, 0], (a * b).sum(axis=1))
    return Rotation.from_rotvec(np.where(s > 1e-12, axis / np.maximum(s, 1e-12), 0.0) * angle[:, None]).as_matrix()


def _indices(names: list[str], alternatives: tuple[tuple[str, str], ...]) -> list[int]:
    for pair in alternatives:
        if all(n in names for n in pair):
            return [names.index(n) for n in pair]
    raise ValueError(f"the body's lean needs the markers {' or '.join(map(str, alternatives))}")


def body_axes(xyz: np.ndarray, names: list[str]) -> np.ndarray:
    """The body's long-axis direction per frame (F, 3) of markers (F, M, 3): mid-ankles → mid-shoulders."""
    top = xyz[:, _indices(names, TOP_MARKERS)].mean(axis=1)
    bottom = xyz[:, _indices(names, BOTTOM_MARKERS)].mean(axis=1)
    return _unit(top - bottom)


def body_axis(xyz: np.ndarray, names: list[str]) -> np.ndarray:
    """The clip's mean long-axis direction (3,)."""
    per_frame = body_axes(xyz, names)
    return _unit(np.nanmean(per_frame[np.isfinite(per_frame).all(axis=1)], axis=0))


def _lean_deg(axes: np.ndarray, up: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(axes @ up, -1.0, 1.0)))


def nearer_upright(
    relative: np.ndarray, rays: np.ndarray, names: list[str], up: np.ndarray, fps: float
) -> tuple[np.ndarray, dict]:
    """Markers (F, M, 3, camera axes; any origin) turned, frame by frame where need be, onto
    the lean of the body's long axis nearer ``up`` (module doc); ``rays`` (F, M, 2) give the
    line of sight to the hips. A choice holds for at least MIN_RUN_S: the per-frame choice is
    median-filtered over that long. Returns the markers and what was decided."""
    from scipy.ndimage import median_filter

    up = _unit(np.asarray(up, dtype=np.float64))
    axes = body_axes(relative, names)  # (F, 3)
    hips = _indices(names, HIP_MARKERS)
    hip_rays = rays[:, hips].mean(axis=1)
    sight = _unit(np.concatenate([hip_rays, np.ones((len(hip_rays), 1))], axis=1))
    mirrored = _unit(axes - 2.0 * (axes * sight).sum(axis=1, keepdims=True) * sight)
    lean, lean_mirrored = _lean_deg(axes, up), _lean_deg(mirrored, up)
    ok = np.isfinite(lean) & np.isfinite(lean_mirrored)
    nearer = ok & (lean_mirrored < lean - MARGIN_DEG)
    run = min(int(round(MIN_RUN_S * fps)) | 1, len(nearer) - (1 - len(nearer) % 2))  # odd, ≤ the clip
    turn = median_filter(nearer.astype(np.uint8), size=max(run, 1), mode="nearest").astype(bool) & ok
    chosen = np.where(turn, lean_mirrored, lean)
    info = {
        "camera_up": np.round(up, 4).tolist(),
        "lean_deg": round(float(np.median(lean[ok])), 1),
        "mirrored_lean_deg": round(float(np.median(lean_mirrored[ok])), 1),
        "lean_after_deg": round(float(np.median(chosen[ok])), 1),
        "turned_frames": int(turn.sum()),
        "frames": int(len(turn)),
    }
    info["turned"] = bool(turn.any())
    if not info["turned"]:
        return relative, info
    out = relative.copy()
    centre = relative[turn][:, hips].mean(axis=1, keepdims=True)
    R = _rotations_between(axes[turn], mirrored[turn])
    out[turn] = centre + np.einsum("fmj,fij->fmi", relative[turn] - centre, R)
    log.info(
        "the body's lean in depth: the mirrored lean is nearer the camera's up in %d of %d frames "
        "(median lean from upright %.0f° → %.0f°)",
        info["turned_frames"],
        info["frames"],
        info["lean_deg"],
        info["lean_after_deg"],
    )
    return out, info
