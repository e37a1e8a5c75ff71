"""Anatomical segment frames: the orientation that marker offsets are written in, for any
skeleton.

Marker offsets (config/markersets/) are given in a segment's *canonical* frame: x = the
subject's left, y = up, z = forward, as the segment sits in the anatomical T-pose of the
cgspeed CMU skeleton (palms down). A skeleton whose joint frames are those axes at rest
(cgspeed BVH, CMU-like ASF: ``rest_pose: anatomical`` in its skeleton map) uses its joint
rotations as they are. Another (Bandai-Namco: at rest every bone lies along its joint's
local x) gets a constant correction per segment, fitted per file:

    canonical(t) = R_joint(t) · C,   C = mean_t R_joint(t)ᵀ · A(t) · D

A(t) is a frame built from body points alone (``point_frames``: a segment axis and a plane,
weighted by how well the plane is defined in that frame), and D the fixed rotation from A to
the canonical frame, measured on the shared CMU clips (``REFERENCE_DEG``; recomputed by the
tests). The joint rotation keeps what points cannot give (a segment's axial twist); A only
fixes the constant offset between the two.
"""

from __future__ import annotations

import numpy as np

SIDES = ("left", "right")
LIMB_SEGMENTS = ("clavicle", "upper_arm", "forearm", "hand", "thigh", "shank", "foot", "toes")
SEGMENTS = ("pelvis", "neck") + tuple(f"{s}_{g}" for s in SIDES for g in LIMB_SEGMENTS)

# The segment tree (for the corruption's limb flips: a flipped limb moves every marker of its
# segment and the segments below it).
SEGMENT_PARENTS = {"pelvis": None, "neck": "pelvis"} | {
    f"{s}_{g}": (f"{s}_{p}" if p != "pelvis" else "pelvis")
    for s in SIDES
    for g, p in (
        ("clavicle", "pelvis"),
        ("upper_arm", "clavicle"),
        ("forearm", "upper_arm"),
        ("hand", "forearm"),
        ("thigh", "pelvis"),
        ("shank", "thigh"),
        ("foot", "shank"),
        ("toes", "foot"),
    )
}

# The order in which the corruption draws each segment's noise: that of the cgspeed joints
# that carried the segments before marker sets were defined on body points (sorted by joint
# name), so that CMU shards stayed the same random draws.
NOISE_ORDER = (
    "pelvis", "left_upper_arm", "left_foot", "left_forearm", "left_hand", "left_shank", "left_clavicle",
    "left_toes", "left_thigh", "neck", "right_upper_arm", "right_foot", "right_forearm", "right_hand",
    "right_shank", "right_clavicle", "right_toes", "right_thigh",
)  # fmt: skip

# The segment a body point moves with (a marker without an offset is grouped by its first
# origin point): a joint centre belongs to the segment that starts there, as in a BVH tree.
POINT_SEGMENTS = {"pelvis": "pelvis", "neck_base": "neck", "neck": "neck"} | {
    f"{s}_{p}": f"{s}_{g}"
    for s in SIDES
    for p, g in (
        ("hip", "thigh"),
        ("knee", "shank"),
        ("ankle", "foot"),
        ("toe", "toes"),
        ("toe_tip", "toes"),
        ("shoulder", "upper_arm"),
        ("elbow", "forearm"),
        ("wrist", "hand"),
    )
}
POINTS = tuple(POINT_SEGMENTS)

# D per segment (rotation vector, degrees): canonical = A · D. Measured with
# ``reference_rotations`` on the 103 shared CMU clips (cgspeed, whose joint frames are the
# canonical ones; frame-to-frame spread about the mean 3–11° median, 14–16° for the hands, from axial twist the
# points cannot see); tests/test_anatomy.py recomputes it on CMU walking and checks it.
REFERENCE_DEG = {
    "pelvis": (5.2, -0.0, 0.3),
    "neck": (-5.1, -1.2, -7.4),
    "left_clavicle": (7.4, 5.7, 1.0),
    "left_upper_arm": (23.8, -0.0, -0.0),
    "left_forearm": (25.4, -0.0, -0.0),
    "left_hand": (22.5, -3.5, 1.9),
    "left_thigh": (-0.5, 2.6, -20.0),
    "left_shank": (0.5, -2.8, -20.0),
    "left_foot": (-14.1, -3.0, -15.1),
    "left_toes": (-23.7, -3.3, -16.1),
    "right_clavicle": (7.0, -3.4, -2.5),
    "right_upper_arm": (24.1, -0.0, 0.0),
    "right_forearm": (25.3, -0.0, -0.0),
    "right_hand": (25.4, 3.4, -1.9),
    "right_thigh": (-0.6, -3.5, 20.0),
    "right_shank": (0.8, 4.8, 20.0),
    "right_foot": (-16.1, 3.4, 14.6),
    "right_toes": (-18.8, 2.3, 15.7),
}


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12), n[..., 0]


def _frame(primary: np.ndarray, axis: int, ref: np.ndarray, ref_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(F, 3, 3) frames (columns = x, y, z axes in world) with column ``axis`` along
    ``primary`` and column ``ref_axis`` along ``ref`` made orthogonal to it; and (F,) weights:
    the sine between the two (0 where the plane is undefined)."""
    p, _ = _unit(primary)
    ref_u, _ = _unit(ref)
    r = ref_u - (ref_u * p).sum(-1, keepdims=True) * p
    r, weight = _unit(r)
    third = 3 - axis - ref_axis
    # Right-handed: x × y = z, y × z = x, z × x = y.
    other = np.cross(p, r) if (ref_axis - axis) % 3 == 1 else np.cross(r, p)
    frame = np.empty(p.shape[:-1] + (3, 3))
    frame[..., axis], frame[..., ref_axis], frame[..., third] = p, r, other
    return frame, weight


def point_frames(points: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Segment → (A (F, 3, 3), weight (F,)) from the body points' positions (F, 3) each."""
    mid_hip = (points["left_hip"] + points["right_hip"]) / 2
    mid_shoulder = (points["left_shoulder"] + points["right_shoulder"]) / 2
    trunk = mid_shoulder - mid_hip
    out = {
        "pelvis": _frame(points["left_hip"] - points["right_hip"], 0, trunk, 1),
        "neck": _frame(points["left_shoulder"] - points["right_shoulder"], 0, trunk, 1),
    }
    for side, sign in (("left", 1.0), ("right", -1.0)):
        p = {k: points[f"{side}_{k}"] for k in ("hip", "knee", "ankle", "toe", "shoulder", "elbow", "wrist")}
        out[f"{side}_clavicle"] = out["neck"]
        # x points to the subject's left along the arm, as in the T-pose; the elbow's flexion
        # plane gives forward (a bent elbow brings the forearm forward).
        out[f"{side}_upper_arm"] = _frame(sign * (p["elbow"] - p["shoulder"]), 0, p["wrist"] - p["elbow"], 2)
        out[f"{side}_forearm"] = _frame(sign * (p["wrist"] - p["elbow"]), 0, p["shoulder"] - p["elbow"], 2)
        out[f"{side}_hand"] = out[f"{side}_forearm"]  # no hand points: the hand moves with the forearm here
        # The knee's flexion plane (a bent knee puts the ankle behind it) and the foot's
        # direction give the legs' forward.
        out[f"{side}_thigh"] = _frame(p["hip"] - p["knee"], 1, p["knee"] - p["ankle"], 2)
        out[f"{side}_shank"] = _frame(p["knee"] - p["ankle"], 1, p["toe"] - p["ankle"], 2)
        out[f"{side}_foot"] = _frame(p["toe"] - p["ankle"], 2, p["knee"] - p["ankle"], 1)
        out[f"{side}_toes"] = out[f"{side}_foot"]
    return out


def _weighted_mean(rotations: np.ndarray, weights: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    good = weights > 0.2  # a plane at under ~12° is noise
    if good.sum() < 10:
        raise ValueError(f"only {int(good.sum())} frames define the segment's plane")
    return Rotation.from_matrix(rotations[good]).mean(weights=weights[good]).as_matrix()


def reference_rotations(points: dict[str, np.ndarray], canonical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """D per segment from a skeleton whose joint frames are canonical: mean of Aᵀ · R."""
    frames = point_frames(points)
    return {
        seg: _weighted_mean(np.swapaxes(frames[seg][0], -1, -2) @ rot, frames[seg][1]) for seg, rot in canonical.items()
    }


def reference(segment: str) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.radians(REFERENCE_DEG[segment])).as_matrix()


def fit_corrections(points: dict[str, np.ndarray], joint_rotations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """C per segment for a skeleton whose rest pose is not the canonical one: the constant
    rotation that takes its joint's frame to the canonical frame, averaged over the clip."""
    frames = point_frames(points)
    return {
        seg: _weighted_mean(np.swapaxes(rot, -1, -2) @ frames[seg][0] @ reference(seg), frames[seg][1])
        for seg, rot in joint_rotations.items()
    }
