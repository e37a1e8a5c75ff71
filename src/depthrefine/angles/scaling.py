"""Model scale factors from the clip, as Pose2Sim scales (no static trial): per measurement of
the scaling setup, the robust mean over the clip of each marker pair's distance, divided by
the same distance on the generic model; left and right pairs averaged; one factor per body,
the same on X, Y and Z. Then, when the subject's height is known, every factor times
known / estimated height.

NaN-aware throughout: a pair counts over the frames where both markers exist.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Pose2Sim's default (trimmed_extrema_percent=50): the 25 % shortest and 25 % longest
# distances are dropped before the mean, which Pose2Sim found better than mean or median.
TRIM_FRACTION = 0.5
# Winter (2009), Biomechanics and Motor Control of Human Movement, fig. 4.1: shoulder height
# is 0.818 of stature; the heel → ankle → knee → hip → shoulder chain reaches it.
SHOULDER_HEIGHT_SHARE = 0.818
HEIGHT_CHAIN = (("Heel", "Ankle"), ("Ankle", "Knee"), ("Knee", "Hip"), ("Hip", "Shoulder"))
# Mass from height at a body-mass index of 22.5 kg/m² (mid normal range) when none is given;
# it scales the model's inertia only, which inverse kinematics does not use.
DEFAULT_BMI = 22.5


@dataclass(frozen=True)
class Measurement:
    name: str
    pairs: tuple[tuple[str, str], ...]  # OpenSim marker names
    bodies: tuple[str, ...]


def read_measurements(scaling_setup: str | Path) -> list[Measurement]:
    """The applied measurements of an OpenSim scaling setup file (its MeasurementSet)."""
    root = ET.parse(scaling_setup).getroot()
    out = []
    for m in root.iter("Measurement"):
        if (m.findtext("apply") or "true").strip().lower() != "true":
            continue
        pairs = tuple(tuple(p.findtext("markers").split()) for p in m.iter("MarkerPair"))
        bodies = tuple(b.get("name") for b in m.iter("BodyScale"))
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"{scaling_setup}: measurement {m.get('name')!r} has a marker pair without two markers")
        out.append(Measurement(m.get("name"), pairs, bodies))
    if not out:
        raise ValueError(f"{scaling_setup}: no applied Measurement")
    return out


def trimmed_mean(values: np.ndarray, trim: float = TRIM_FRACTION) -> float:
    """Mean of the finite values after dropping trim/2 of them at each end (NaN if none)."""
    v = np.sort(values[np.isfinite(values)])
    if not len(v):
        return float("nan")
    cut = int(len(v) * trim / 2)
    return float(v[cut : len(v) - cut].mean()) if len(v) > 2 * cut else float(np.median(v))


def pair_length(xyz: np.ndarray, names: list[str], a: str, b: str) -> float:
    """Robust distance over the clip between markers a and b of xyz (F, M, 3); NaN when absent."""
    if a not in names or b not in names:
        return float("nan")
    return trimmed_mean(np.linalg.norm(xyz[:, names.index(a)] - xyz[:, names.index(b)], axis=-1))


def estimate_height(xyz: np.ndarray, names: list[str]) -> float:
    """Stature (m) from the clip: the heel → shoulder chain, mean of both sides, over Winter's
    shoulder-height share. NaN when a side's chain has a missing marker on both sides."""
    sides = []
    for side in "RL":
        chain = [pair_length(xyz, names, side + a, side + b) for a, b in HEIGHT_CHAIN]
        if np.all(np.isfinite(chain)):
            sides.append(sum(chain))
    return float(np.mean(sides) / SHOULDER_HEIGHT_SHARE) if sides else float("nan")


def default_mass(height_m: float) -> float:
    return DEFAULT_BMI * height_m**2


def body_scales(
    xyz: np.ndarray,
    names: list[str],
    measurements: list[Measurement],
    model_lengths: dict[tuple[str, str], float],
    bodies: set[str],
) -> tuple[dict[str, float], dict[str, float]]:
    """xyz (F, M, 3) in metres with OpenSim marker names; model_lengths: each pair's distance on
    the generic model; bodies: those the model has (a setup's body the model lacks — the simple
    model's lumbar vertebrae and patellae — is left out). Returns body → factor and
    measurement → factor. A measurement none of whose pairs is in the clip is an error."""
    per_measurement, per_body = {}, {}
    for m in measurements:
        ratios = [pair_length(xyz, names, a, b) / model_lengths[(a, b)] for a, b in m.pairs]
        ratios = [r for r in ratios if np.isfinite(r)]
        if not ratios:
            raise ValueError(f"scaling measurement {m.name!r}: none of its marker pairs {list(m.pairs)} is in the clip")
        per_measurement[m.name] = float(np.mean(ratios))
        for body in m.bodies:
            if body in bodies:
                per_body[body] = per_measurement[m.name]
    return per_body, per_measurement
