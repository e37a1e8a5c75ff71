"""Quality metrics of marker trajectories in camera coordinates (definitions: docs/metrics.md)."""

from __future__ import annotations

import numpy as np

from depthrefine.markers.index import MarkerIndex, pelvis_centre

GROUND_TOLERANCE_M = 0.010


def depth_error_mm(pred: np.ndarray, true: np.ndarray, index: MarkerIndex) -> float:
    """Mean |z − z_true| after removing each frame's root (pelvis centre) depth offset."""
    dz = (pred[..., 2] - pelvis_centre(pred, index)[:, None, 2]) - (
        true[..., 2] - pelvis_centre(true, index)[:, None, 2]
    )
    return float(np.abs(dz).mean() * 1000)


def mpjpe_mm(pred: np.ndarray, true: np.ndarray, index: MarkerIndex) -> float:
    """Mean per-marker 3D error after aligning the roots frame by frame."""
    p = pred - pelvis_centre(pred, index)[:, None]
    t = true - pelvis_centre(true, index)[:, None]
    return float(np.linalg.norm(p - t, axis=-1).mean() * 1000)


def bone_length_cv(xyz: np.ndarray, segments: np.ndarray) -> float:
    """Mean over segments of std/mean of the segment's length over the frames where it exists
    (a triangulated reference has gaps)."""
    segments = np.asarray(segments).reshape(-1, 2)
    lengths = np.linalg.norm(xyz[:, segments[:, 0]] - xyz[:, segments[:, 1]], axis=-1)
    return float((np.nanstd(lengths, axis=0) / np.nanmean(lengths, axis=0)).mean())


def pelvis_angles_deg(xyz: np.ndarray, index: MarkerIndex, up: np.ndarray) -> dict[str, np.ndarray]:
    """Pelvis obliquity (lateral axis vs horizontal), rotation (lateral axis about the vertical)
    and, when front and back pelvis markers exist, tilt (front-back axis vs horizontal)."""
    left, right = xyz[:, index.pelvis[0]], xyz[:, index.pelvis[1]]
    lateral = left - right
    lateral /= np.linalg.norm(lateral, axis=1, keepdims=True)
    h1 = np.array([1.0, 0.0, 0.0]) - up[0] * up  # camera x, made horizontal
    h1 /= np.linalg.norm(h1)
    h2 = np.cross(up, h1)
    angles = {
        "obliquity": np.degrees(np.arcsin(np.clip(lateral @ up, -1, 1))),
        "rotation": np.degrees(np.unwrap(np.arctan2(lateral @ h2, lateral @ h1))),
    }
    if index.pelvis_back.size == 2:
        front = 0.5 * (left + right)
        back = xyz[:, index.pelvis_back].mean(axis=1)
        forward = front - back
        forward /= np.linalg.norm(forward, axis=1, keepdims=True)
        angles["tilt"] = np.degrees(np.arcsin(np.clip(forward @ up, -1, 1)))
    return angles


def pelvis_rom_deg(xyz: np.ndarray, index: MarkerIndex, up: np.ndarray) -> dict[str, float]:
    return {k: float(v.max() - v.min()) for k, v in pelvis_angles_deg(xyz, index, up).items()}


def pelvis_rom_error_deg(pred: np.ndarray, true: np.ndarray, index: MarkerIndex, up: np.ndarray) -> float:
    rp, rt = pelvis_rom_deg(pred, index, up), pelvis_rom_deg(true, index, up)
    return float(np.mean([abs(rp[k] - rt[k]) for k in rt]))


def ground_violation_pct(
    xyz: np.ndarray, feet: np.ndarray, up: np.ndarray, floor: float, tol: float = GROUND_TOLERANCE_M
) -> float:
    """% of foot-marker samples more than ``tol`` below the floor (height along ``up``)."""
    if feet.size == 0:
        return float("nan")
    height = xyz[:, feet] @ up
    return float((height < floor - tol).mean() * 100)


def depth_jitter_mm(xyz: np.ndarray) -> float:
    """Mean |second difference| of depth per frame step (the data are at 60 fps); steps across
    a gap (NaN) do not count."""
    return float(np.nanmean(np.abs(np.diff(xyz[..., 2], n=2, axis=0))) * 1000)


def floor_height(true: np.ndarray, feet: np.ndarray, up: np.ndarray) -> float:
    """The floor under known ground truth: 2nd percentile of the true foot heights along up."""
    return float(np.percentile(true[:, feet] @ up, 2))


def all_metrics(
    pred: np.ndarray, true: np.ndarray, index: MarkerIndex, up: np.ndarray, floor: float
) -> dict[str, float]:
    return {
        "depth_error_mm": depth_error_mm(pred, true, index),
        "mpjpe_mm": mpjpe_mm(pred, true, index),
        "bone_cv": bone_length_cv(pred, index.bones),
        "pelvis_rom_error_deg": pelvis_rom_error_deg(pred, true, index, up),
        "ground_violation_pct": ground_violation_pct(pred, index.feet, up, floor),
        "depth_jitter_mm": depth_jitter_mm(pred),
    }


def segment_lengths_m(xyz: np.ndarray, pairs: np.ndarray, names: list[str]) -> dict[str, float]:
    """Mean length (metres) of each marker pair over the sequence, keyed "A–B"."""
    lengths = np.linalg.norm(xyz[:, pairs[:, 0]] - xyz[:, pairs[:, 1]], axis=-1).mean(axis=0)
    return {f"{names[a]}–{names[b]}": float(v) for (a, b), v in zip(pairs, lengths)}


def observed_metrics(xyz: np.ndarray, index: MarkerIndex) -> dict:
    """Metrics without ground truth (per-video reports): bone-length CV, pelvis range of motion
    per axis, ground violations against the sequence's own fitted floor plane, depth jitter."""
    from depthrefine.capture.floor import fit_floor

    floor = fit_floor(xyz, index.feet, index.pelvis)
    height = floor.height(xyz[:, index.feet])
    return {
        "bone_cv": bone_length_cv(xyz, index.bones),
        "pelvis_rom_deg": pelvis_rom_deg(xyz, index, floor.normal),
        "ground_violation_pct": float((height < -GROUND_TOLERANCE_M).mean() * 100),
        "depth_jitter_mm": depth_jitter_mm(xyz),
        "floor": {
            "normal": [float(v) for v in floor.normal],
            "offset_m": floor.offset,
            "stance_points": floor.points,
            "rms_mm": floor.rms_mm,
        },
        "hip_width_m": float(np.linalg.norm(xyz[:, index.pelvis[0]] - xyz[:, index.pelvis[1]], axis=-1).mean()),
        "bone_lengths_m": segment_lengths_m(xyz, index.bones, index.names),
    }
