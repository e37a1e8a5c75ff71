"""A marker set's structure as index arrays in shard column order, and the body geometry
computed from it (pelvis centre, body scale, camera-frame up)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthrefine.markers.markersets import MarkerSet


@dataclass(frozen=True)
class MarkerIndex:
    """Marker-set structure as index arrays, in shard column order."""

    names: list[str]
    pelvis: np.ndarray  # (2,) left, right
    pelvis_back: np.ndarray  # (2,) back left, back right, or empty
    segments: np.ndarray  # (S, 2)
    bones: np.ndarray  # (Bn, 2) long bones (metric); the segments when the set names none
    symmetric: np.ndarray  # (P, 2, 2) pairs of segments (as marker indices)
    limits: np.ndarray  # (L, 3) marker triplets a-b-c, angle at b
    limit_range_rad: np.ndarray  # (L, 2) flexion min/max
    feet: np.ndarray  # (K,)

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> MarkerIndex:
        shapes = {
            "segments": (-1, 2),
            "bones": (-1, 2),
            "symmetric": (-1, 2, 2),
            "limits": (-1, 3),
            "limit_range_rad": (-1, 2),
        }
        out = {}
        for k, v in d.items():
            if k == "names":
                out[k] = list(v)
            else:
                arr = np.array(v, dtype=np.float32 if k == "limit_range_rad" else np.int64)
                out[k] = arr.reshape(shapes[k]) if k in shapes else arr
        return cls(**out)

    @classmethod
    def from_markerset(cls, ms: MarkerSet, shard_markers: list[str] | None = None, source: str = "") -> MarkerIndex:
        names = ms.names
        if shard_markers is not None and list(shard_markers) != names:
            raise ValueError(
                f"{source or 'shards'}: marker list ({len(shard_markers)} markers) differs from marker set "
                f"{ms.name!r} ({ms.path}, {len(names)} markers); rebuild the shards with this marker set"
            )
        ix = {n: i for i, n in enumerate(names)}
        pelvis_names = ms.pelvis_markers
        left = pelvis_names.get("left")
        right = pelvis_names.get("right")
        if left is None or right is None:
            raise ValueError(f"{ms.path}: pelvis_markers needs 'left' and 'right'")
        back = [pelvis_names[k] for k in ("back_left", "back_right") if k in pelvis_names]
        limits = [(ix[a], ix[b], ix[c]) for (a, b, c), _ in ms.joint_limits]
        ranges = [np.radians(r) for _, r in ms.joint_limits]
        return cls(
            names=list(names),
            pelvis=np.array([ix[left], ix[right]]),
            pelvis_back=np.array([ix[n] for n in back], dtype=np.int64),
            segments=ms.segment_indices(),
            bones=np.array([[ix[a], ix[b]] for a, b in ms.bones], dtype=np.int64).reshape(-1, 2)
            if ms.bones
            else ms.segment_indices(),
            symmetric=np.array(
                [[[ix[a], ix[b]], [ix[c], ix[d]]] for (a, b), (c, d) in ms.symmetric_segments], dtype=np.int64
            ).reshape(-1, 2, 2),
            limits=np.array(limits, dtype=np.int64).reshape(-1, 3),
            limit_range_rad=np.array(ranges, dtype=np.float32).reshape(-1, 2),
            feet=np.array([ix[n] for n in ms.foot_markers], dtype=np.int64),
        )


def camera_up(elevation_deg: float) -> np.ndarray:
    """World up in camera coordinates for a level (roll-free) camera pitched down by the
    elevation: x right, y down, z forward → (0, −cos e, −sin e)."""
    e = np.radians(elevation_deg)
    return np.array([0.0, -np.cos(e), -np.sin(e)], dtype=np.float32)


def body_scale(xyz: np.ndarray, segments: np.ndarray) -> float:
    """Median over frames of the mean segment length (metres): a body-size measure."""
    lengths = np.linalg.norm(xyz[:, segments[:, 0]] - xyz[:, segments[:, 1]], axis=-1)
    return float(np.median(lengths.mean(axis=1)))


def pelvis_centre(xyz: np.ndarray, index: MarkerIndex) -> np.ndarray:
    return xyz[..., index.pelvis, :].mean(axis=-2)
