"""Skeleton maps: which joint of a mocap source's skeleton stands for which body point and
which joint's rotation moves which segment, and a check that the mapped points give a
human's segment lengths.

Every source names its joints its own way (cgspeed's ``LeftUpLeg``, Bandai-Namco's
``UpperLeg_L``, HDM05's bone ends ``lhipjoint``); a map in ``config/skeletons/`` names them
for the body points and segments of ``depthrefine.mocap.anatomy``, on which the marker sets
are defined. A point the skeleton lacks (Bandai-Namco has no toe tip) may be placed on the
line through two joints: ``{along: [A, B], at: t}`` = A + t·(B − A). The length check catches
a wrong length unit or a wrong map before anything is trained on it: a thigh of 3.9 m or
0.04 m names the file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthrefine.errors import DataError

SIDES = ("left", "right")
LIMB_POINTS = ("hip", "knee", "ankle", "toe", "shoulder", "elbow", "wrist")
BODY_POINTS = tuple(f"{side}_{p}" for side in SIDES for p in LIMB_POINTS)
FORMATS = ("bvh", "asf_amc")
REST_POSES = ("anatomical", "fit")

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
    # body point → joint (BVH) or bone end (ASF/AMC) name, or (joint A, joint B, t) on their line
    points: dict[str, str | tuple[str, str, float]]
    segments: dict[str, str]  # segment → the joint (bone) whose rotation moves it
    rest_pose: str  # anatomical: joint frames at rest are the canonical axes; fit: fitted per file


def load_skeleton_map(path: str | Path) -> SkeletonMap:
    import yaml

    from depthrefine.mocap.anatomy import POINTS, SEGMENTS

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"skeleton map {path} not found")
    raw = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(raw) - {"name", "format", "rest_pose", "points", "segments"})
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; expected name, format, rest_pose, points, segments")
    if raw.get("format") not in FORMATS:
        raise ValueError(f"{path}: format must be one of {list(FORMATS)}, got {raw.get('format')!r}")
    rest_pose = raw.get("rest_pose", "anatomical")
    if rest_pose not in REST_POSES:
        raise ValueError(f"{path}: rest_pose must be one of {list(REST_POSES)}, got {rest_pose!r}")
    points = {str(k): _point(k, v, path) for k, v in (raw.get("points") or {}).items()}
    missing, extra = sorted(set(BODY_POINTS) - set(points)), sorted(set(points) - set(POINTS))
    if missing or extra:
        raise ValueError(
            f"{path}: points must name a joint for each of {list(BODY_POINTS)} and may for "
            f"{sorted(set(POINTS) - set(BODY_POINTS))}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
        )
    segments = {str(k): str(v) for k, v in (raw.get("segments") or {}).items()}
    extra = sorted(set(segments) - set(SEGMENTS))
    if extra:
        raise ValueError(f"{path}: unknown segments {extra}; known: {list(SEGMENTS)}")
    return SkeletonMap(str(raw.get("name") or path.stem), str(path), raw["format"], points, segments, rest_pose)


def _point(name, value, path: Path) -> str | tuple[str, str, float]:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"along", "at"} and len(value["along"]) == 2:
        return (str(value["along"][0]), str(value["along"][1]), float(value["at"]))
    raise ValueError(
        f"{path}: point {name!r} must be a joint name or {{along: [joint_a, joint_b], at: t}}, got {value!r}"
    )


def _joints(value) -> tuple[str, ...]:
    return value[:2] if isinstance(value, tuple) else (value,)


def point_positions(
    positions: dict[str, np.ndarray], skeleton_map: SkeletonMap, names, source: str
) -> dict[str, np.ndarray]:
    """Body point → positions (any leading shape, last axis 3) from joint name → positions,
    for the body points ``names``; DataError naming the file and the joints it lacks."""
    unknown = sorted(set(names) - set(skeleton_map.points))
    if unknown:
        raise DataError(
            source, f"skeleton map {skeleton_map.name!r} ({skeleton_map.path}) gives no body point {unknown}"
        )
    needed = {j for n in names for j in _joints(skeleton_map.points[n])}
    missing = sorted(needed - set(positions))
    if missing:
        raise DataError(
            source,
            f"skeleton map {skeleton_map.name!r} ({skeleton_map.path}) names joints {missing} that the "
            f"file does not have (it has {', '.join(sorted(positions)[:12])}, …)",
        )
    out = {}
    for n in names:
        value = skeleton_map.points[n]
        if isinstance(value, tuple):
            a, b = positions[value[0]], positions[value[1]]
            out[n] = a + value[2] * (b - a)
        else:
            out[n] = positions[value]
    return out


def body_points(positions: dict[str, np.ndarray], skeleton_map: SkeletonMap, source: str) -> dict[str, np.ndarray]:
    """The 14 checked body points → (F, 3) positions, from joint name → (F, 3) positions."""
    return point_positions(positions, skeleton_map, BODY_POINTS, source)


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


def default_skeleton_map() -> SkeletonMap:
    """cgspeed's map (the default source's), from the checkout's config/skeletons/."""
    from depthrefine.settings import SCHEMA

    return cached_skeleton_map(SCHEMA.parents[2] / "config" / "skeletons" / "cmu_cgspeed.yaml")


def cached_skeleton_map(path: str | Path) -> SkeletonMap:
    """``load_skeleton_map``, read once per file version: a batch job applies one map to every
    trial, twice (segment check and marker placement)."""
    path = Path(path)
    return _cached_map(str(path), path.stat().st_mtime_ns if path.is_file() else 0)


@functools.cache
def _cached_map(path: str, stamp: int) -> SkeletonMap:
    return load_skeleton_map(path)
