"""Skeleton maps: which joint of a mocap source's skeleton stands for which body point, and a
check that the mapped points give a human's segment lengths.

Every source names its joints its own way (cgspeed's ``LeftUpLeg``, Bandai-Namco's
``UpperLeg_L``, HDM05's bone ends ``lhipjoint``); a map in ``config/skeletons/`` names the
joint for each of the body points below. The length check catches a wrong length unit or a
wrong map before anything is trained on it: a thigh of 3.9 m or 0.04 m names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthrefine.errors import DataError

SIDES = ("left", "right")
LIMB_POINTS = ("hip", "knee", "ankle", "toe", "shoulder", "elbow", "wrist")
BODY_POINTS = tuple(f"{side}_{p}" for side in SIDES for p in LIMB_POINTS)
FORMATS = ("bvh", "asf_amc")

# Adult segment lengths between joint centres, metres: generous bounds (about the 1st to the
# 99th percentile of adult anthropometry, widened), so a real person passes and a unit error
# (×2.54, ×10, ×100) does not.
SEGMENT_RANGES_M = {
    "thigh": ("hip", "knee", 0.30, 0.55),
    "shank": ("knee", "ankle", 0.28, 0.55),
    "upper arm": ("shoulder", "elbow", 0.18, 0.42),
    "forearm": ("elbow", "wrist", 0.16, 0.36),
}
HIP_WIDTH_RANGE_M = (0.10, 0.40)


@dataclass(frozen=True)
class SkeletonMap:
    name: str
    path: str
    format: str
    points: dict[str, str]  # body point → joint (BVH) or bone (ASF/AMC) name


def load_skeleton_map(path: str | Path) -> SkeletonMap:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"skeleton map {path} not found")
    raw = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(raw) - {"name", "format", "points"})
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; expected name, format, points")
    if raw.get("format") not in FORMATS:
        raise ValueError(f"{path}: format must be one of {list(FORMATS)}, got {raw.get('format')!r}")
    points = {str(k): str(v) for k, v in (raw.get("points") or {}).items()}
    missing, extra = sorted(set(BODY_POINTS) - set(points)), sorted(set(points) - set(BODY_POINTS))
    if missing or extra:
        raise ValueError(
            f"{path}: points must name a joint for each of {list(BODY_POINTS)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
        )
    return SkeletonMap(str(raw.get("name") or path.stem), str(path), raw["format"], points)


def body_points(positions: dict[str, np.ndarray], skeleton_map: SkeletonMap, source: str) -> dict[str, np.ndarray]:
    """Body point → (F, 3) positions, from a source's joint name → (F, 3) positions."""
    missing = sorted({j for j in skeleton_map.points.values() if j not in positions})
    if missing:
        raise DataError(
            source,
            f"skeleton map {skeleton_map.name!r} ({skeleton_map.path}) names joints {missing} that the "
            f"file does not have (it has {', '.join(sorted(positions)[:12])}, …)",
        )
    return {point: positions[joint] for point, joint in skeleton_map.points.items()}


def segment_lengths_m(points: dict[str, np.ndarray]) -> dict[str, float]:
    """Median length over the clip of each segment on each side, and the hip width."""
    out = {}
    for segment, (a, b, _, _) in SEGMENT_RANGES_M.items():
        for side in SIDES:
            d = np.linalg.norm(points[f"{side}_{a}"] - points[f"{side}_{b}"], axis=-1)
            out[f"{side} {segment}"] = float(np.nanmedian(d))
    out["hip width"] = float(np.nanmedian(np.linalg.norm(points["left_hip"] - points["right_hip"], axis=-1)))
    return out


def check_segment_lengths(points: dict[str, np.ndarray], source: str, hint: str = "") -> dict[str, float]:
    """The segment lengths, or DataError naming the first implausible one (and ``hint``)."""
    lengths = segment_lengths_m(points)
    bounds = {f"{side} {s}": (lo, hi) for s, (_, _, lo, hi) in SEGMENT_RANGES_M.items() for side in SIDES}
    bounds["hip width"] = HIP_WIDTH_RANGE_M
    for name, value in lengths.items():
        lo, hi = bounds[name]
        if not lo <= value <= hi:
            raise DataError(
                source,
                f"implausible {name} of {value:.3f} m (a person's is {lo:g}–{hi:g} m): "
                f"a wrong length unit or skeleton map{hint}",
            )
    return lengths
