"""Marker sets as data (``config/markersets/*.yaml``), defined on body points and segments
(``depthrefine.mocap.anatomy``) and placed on any skeleton through its skeleton map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from depthrefine.errors import DataError
from depthrefine.mocap.anatomy import POINT_SEGMENTS, POINTS, SEGMENTS
from depthrefine.mocap.kinematics import JointTrajectories


@dataclass(frozen=True)
class MarkerDef:
    name: str
    origin: tuple[str, ...]  # body points
    weights: tuple[float, ...]
    frame: str  # the segment that carries the offset (and moves the marker)
    scale: tuple[str, str] | None  # body points
    offset: tuple[float, float, float]


@dataclass(frozen=True)
class MarkerSet:
    name: str
    path: str
    markers: tuple[MarkerDef, ...]
    segments: tuple[tuple[str, str], ...]
    symmetric_segments: tuple[tuple[tuple[str, str], tuple[str, str]], ...]
    foot_markers: tuple[str, ...]
    pelvis_markers: dict
    # ((a, b, c), (min_deg, max_deg)): flexion at b = 180° − angle(a−b, c−b); 0 = straight
    joint_limits: tuple[tuple[tuple[str, str, str], tuple[float, float]], ...] = ()
    bones: tuple[tuple[str, str], ...] = ()  # long bones for the bone-length CV metric
    # marker → landmark indices of a video pose model (averaged), when every marker has them
    landmarks: dict[str, tuple[int, ...]] | None = None
    landmark_model: str | None = None
    aliases: dict[str, str] | None = None  # other names a marker file may use → marker name
    # marker → the name of the same marker in the OpenSim marker file (depthrefine.angles)
    opensim_markers: dict[str, str] | None = None

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.markers]

    def segment_indices(self) -> np.ndarray:
        """(S, 2) marker indices of the rigid segments."""
        index = {n: i for i, n in enumerate(self.names)}
        return np.array([[index[a], index[b]] for a, b in self.segments], dtype=np.int64).reshape(-1, 2)

    def required_points(self) -> list[str]:
        points = []
        for m in self.markers:
            points += list(m.origin) + list(m.scale or ())
        return list(dict.fromkeys(points))

    def offset_segments(self) -> list[str]:
        return list(dict.fromkeys(m.frame for m in self.markers if any(m.offset)))


def _read_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if path in seen:
        raise ValueError(f"{path}: marker-set include cycle ({' -> '.join(map(str, seen))})")
    if not path.is_file():
        raise FileNotFoundError(f"marker set {path} not found")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("markers"), dict):
        raise ValueError(f"{path}: expected a mapping with a 'markers' mapping")
    if "include" in raw:
        base = _read_raw(path.parent / raw["include"], seen + (path,))
        merged = dict(base)
        merged.pop("landmarks", None)  # a video mapping covers its own set's markers only
        merged.update(
            {
                k: v
                for k, v in raw.items()
                if k not in ("markers", "segments", "symmetric_segments", "joint_limits", "bones")
            }
        )
        merged["markers"] = {**base["markers"], **raw["markers"]}
        merged["aliases"] = {**(base.get("aliases") or {}), **(raw.get("aliases") or {})}
        merged["segments"] = list(base.get("segments", [])) + list(raw.get("segments", []))
        for key in ("symmetric_segments", "joint_limits", "bones"):
            merged[key] = list(base.get(key, [])) + list(raw.get(key, []))
        return merged
    return raw


def load_markerset(path: str | Path) -> MarkerSet:
    """Read and check a marker-set file; errors name the file and the marker."""
    path = Path(path)
    raw = _read_raw(path)
    markers = []
    for name, spec in raw["markers"].items():
        where = f"{path}: marker {name!r}"
        spec = spec or {}
        unknown = set(spec) - {"origin", "weights", "frame", "scale", "offset"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        origin = tuple(spec.get("origin") or ())
        if not origin:
            raise ValueError(f"{where}: 'origin' must list at least one joint")
        weights = tuple(float(w) for w in spec.get("weights", [1.0 / len(origin)] * len(origin)))
        if len(weights) != len(origin) or abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError(f"{where}: 'weights' must have one value per origin joint and sum to 1")
        offset = tuple(float(v) for v in spec.get("offset", (0.0, 0.0, 0.0)))
        if len(offset) != 3:
            raise ValueError(f"{where}: 'offset' must be [left, up, forward]")
        scale = tuple(spec["scale"]) if "scale" in spec else None
        if any(offset) and (scale is None or len(scale) != 2):
            raise ValueError(f"{where}: a non-zero offset needs 'scale: [point_a, point_b]'")
        if any(offset) and "frame" not in spec:
            raise ValueError(f"{where}: a non-zero offset needs 'frame: <segment>' (one of {list(SEGMENTS)})")
        unknown = sorted(set(origin + (scale or ())) - set(POINTS))
        if unknown:
            raise ValueError(f"{where}: unknown body points {unknown}; known: {list(POINTS)}")
        frame = spec.get("frame", POINT_SEGMENTS[origin[0]])
        if frame not in SEGMENTS:
            raise ValueError(f"{where}: frame {frame!r} is not a segment; known: {list(SEGMENTS)}")
        markers.append(MarkerDef(name, origin, weights, frame, scale, offset))
    names = {m.name for m in markers}

    def check_pair(pair, what):
        if len(pair) != 2 or not set(pair) <= names:
            raise ValueError(f"{path}: {what} {pair} must name two markers of the set")
        return (pair[0], pair[1])

    segments = tuple(check_pair(p, "segment") for p in raw.get("segments", []))
    bones = tuple(check_pair(p, "bone") for p in raw.get("bones", []))
    symmetric = tuple(
        (check_pair(a, "symmetric segment"), check_pair(b, "symmetric segment"))
        for a, b in raw.get("symmetric_segments", [])
    )
    foot = tuple(raw.get("foot_markers", []))
    pelvis = dict(raw.get("pelvis_markers", {}))
    for n in list(foot) + list(pelvis.values()):
        if n not in names:
            raise ValueError(f"{path}: {n!r} is not a marker of the set")
    limits = []
    for item in raw.get("joint_limits", []):
        triplet, rng = tuple(item.get("markers", ())), tuple(float(v) for v in item.get("flexion_deg", ()))
        if len(triplet) != 3 or not set(triplet) <= names or len(rng) != 2 or rng[0] > rng[1]:
            raise ValueError(
                f"{path}: joint limit {item} needs markers: [a, b, c] of the set and flexion_deg: [min, max]"
            )
        limits.append((triplet, rng))
    landmarks, landmark_model = _landmarks(raw.get("landmarks"), [m.name for m in markers], path)
    aliases = {}
    for name, others in (raw.get("aliases") or {}).items():
        if name not in names or not isinstance(others, list):
            raise ValueError(f"{path}: aliases must map a marker of the set to a list of other names, got {name!r}")
        for other in others:
            if aliases.setdefault(str(other), name) != name or other in names:
                raise ValueError(f"{path}: alias {other!r} is ambiguous")
    opensim = raw.get("opensim_markers")
    if opensim is not None and (not isinstance(opensim, dict) or not set(opensim) <= names):
        raise ValueError(f"{path}: opensim_markers must map markers of the set to OpenSim marker names")
    return MarkerSet(
        str(raw.get("name", path.stem)),
        str(path),
        tuple(markers),
        segments,
        symmetric,
        foot,
        pelvis,
        tuple(limits),
        bones,
        landmarks,
        landmark_model,
        aliases,
        {str(k): str(v) for k, v in opensim.items()} if opensim else None,
    )


def _landmarks(spec, names: list[str], path: Path) -> tuple[dict | None, str | None]:
    if spec is None:
        return None, None
    if not isinstance(spec, dict) or not isinstance(spec.get("markers"), dict) or not spec.get("model"):
        raise ValueError(f"{path}: 'landmarks' needs 'model' and a 'markers' mapping of marker → landmark indices")
    mapping = spec["markers"]
    missing, unknown = [n for n in names if n not in mapping], [n for n in mapping if n not in names]
    if missing or unknown:
        raise ValueError(
            f"{path}: 'landmarks' must map exactly the set's markers (missing {missing}, unknown {unknown})"
        )
    out = {}
    for name in names:
        idx = mapping[name]
        if not isinstance(idx, list) or not idx or not all(isinstance(i, int) and 0 <= i for i in idx):
            raise ValueError(f"{path}: landmarks of {name!r} must be a list of landmark indices")
        out[name] = tuple(idx)
    return out, str(spec["model"])


def joints_to_markers(traj: JointTrajectories, markerset: MarkerSet, skeleton_map=None, source: str = "") -> np.ndarray:
    """Marker positions (F, M, 3) in metres, world axes, from joint trajectories.

    p = Σ wᵢ·point_i(t) + F_frame(t) · (L · offset), L = rest distance of the two scale points
    and F the segment's canonical frame (``depthrefine.mocap.anatomy``): its joint's rotation,
    times a correction fitted on the clip for a skeleton map with ``rest_pose: fit``.
    ``skeleton_map``: a SkeletonMap (default: cgspeed's, config/skeletons/cmu_cgspeed.yaml).
    """
    from depthrefine.mocap.skeleton_map import default_skeleton_map, point_positions

    smap = skeleton_map or default_skeleton_map()
    where = source or "skeleton"
    needed = markerset.required_points()
    segments = markerset.offset_segments()
    missing = sorted(set(segments) - set(smap.segments))
    if missing:
        raise DataError(
            where,
            f"marker set {markerset.name!r} ({markerset.path}) needs segments {missing} that skeleton map "
            f"{smap.name!r} ({smap.path}) does not name",
        )
    names = {n: i for i, n in enumerate(traj.names)}
    joints = {n: traj.positions_m[:, i] for n, i in names.items()}
    positions = point_positions(joints, smap, needed, where)
    rest = point_positions({n: traj.rest_positions_m[i] for n, i in names.items()}, smap, needed, where)
    frames = _segment_frames(traj, smap, segments, joints, where)
    out = np.empty((traj.positions_m.shape[0], len(markerset.markers), 3))
    for k, m in enumerate(markerset.markers):
        pos = sum(w * positions[p] for w, p in zip(m.weights, m.origin))
        if any(m.offset):
            a, b = m.scale
            length = np.linalg.norm(rest[b] - rest[a])
            pos = pos + frames[m.frame] @ (length * np.asarray(m.offset))
        out[:, k] = pos
    return out


def _segment_frames(traj: JointTrajectories, smap, segments: list[str], joints: dict, where: str) -> dict:
    """Segment → (F, 3, 3) canonical frame: its joint's rotation, times the fitted correction
    for a map with ``rest_pose: fit``."""
    from depthrefine.mocap.skeleton_map import BODY_POINTS, point_positions

    missing = sorted({smap.segments[s] for s in segments} - set(traj.names))
    if missing:
        raise DataError(
            where,
            f"skeleton map {smap.name!r} ({smap.path}) moves segments with joints {missing} which the "
            f"skeleton lacks (has {', '.join(traj.names)})",
        )
    if segments and traj.rotations is None:
        raise ValueError("joint trajectories carry no rotations; markers with offsets need them")
    frames = {s: traj.rotations[:, traj.names.index(smap.segments[s])] for s in segments}
    if smap.rest_pose != "fit" or not segments:
        return frames
    from depthrefine.mocap.anatomy import fit_corrections

    try:
        corrections = fit_corrections(point_positions(joints, smap, BODY_POINTS, where), frames)
    except ValueError as exc:
        raise DataError(where, f"cannot fit the segment frames of skeleton map {smap.name!r}: {exc}") from None
    return {s: frames[s] @ corrections[s] for s in segments}
