"""Which of the model's coordinates are reported, which make the headline, and which these
markers cannot observe (docs/angles.md)."""

from __future__ import annotations

import numpy as np

# Pelvis, hip, knee and ankle: the headline mean (the "lower-body angles").
HEADLINE = (
    "pelvis_tilt",
    "pelvis_list",
    "pelvis_rotation",
    "hip_flexion_r",
    "hip_flexion_l",
    "knee_angle_r",
    "knee_angle_l",
    "ankle_angle_r",
    "ankle_angle_l",
)
# Also in the tables, outside the headline.
EXTRA = ("hip_adduction_r", "hip_adduction_l", "elbow_flex_r", "elbow_flex_l")
PLOTTED = HEADLINE + ("L5_S1_Flex_Ext",)
LABELS = {
    "pelvis_tilt": "pelvis tilt",
    "pelvis_list": "pelvis list",
    "pelvis_rotation": "pelvis rotation",
    "hip_flexion_r": "hip flexion R",
    "hip_flexion_l": "hip flexion L",
    "hip_adduction_r": "hip adduction R",
    "hip_adduction_l": "hip adduction L",
    "knee_angle_r": "knee flexion R",
    "knee_angle_l": "knee flexion L",
    "ankle_angle_r": "ankle flexion R",
    "ankle_angle_l": "ankle flexion L",
    "elbow_flex_r": "elbow flexion R",
    "elbow_flex_l": "elbow flexion L",
    "L5_S1_Flex_Ext": "lumbar flexion (not observable)",
}
# Not in the headline or the tables: what the 16 BlazePose markers leave undetermined.
NOT_OBSERVABLE = {
    "lumbar (L5_S1_*)": "no marker between the hips and the shoulders: lumbar flexion trades with pelvis tilt",
    "shoulder rotation (arm_rot_*)": "a rotation about the upper arm's own axis moves no shoulder or elbow marker",
    "forearm rotation (pro_sup_*) and wrist": "one wrist marker, no hand markers",
    "neck": "no head markers in this marker set",
    "subtalar and toes (subtalar_angle_*, mtp_angle_*)": "one heel and one toe marker per foot",
}


def wrapped(diff_deg: np.ndarray) -> np.ndarray:
    return (diff_deg + 180.0) % 360.0 - 180.0


def angle_rmse(est: dict[str, np.ndarray], ref: dict[str, np.ndarray], frames: np.ndarray) -> dict[str, float]:
    """RMSE (°) per reported angle over the frames (boolean mask) where both have a value."""
    out = {}
    for name in HEADLINE + EXTRA:
        if name in est and name in ref:
            d = wrapped(est[name] - ref[name])[frames]
            d = d[np.isfinite(d)]
            if len(d):
                out[name] = float(np.sqrt(np.mean(d**2)))
    return out


def headline_mean(rmse: dict[str, float]) -> float | None:
    vals = [rmse[k] for k in HEADLINE if k in rmse]
    return float(np.mean(vals)) if len(vals) == len(HEADLINE) else None
