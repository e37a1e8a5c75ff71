"""From shard clips to normalised training windows (numpy), shared by training and inference.

Normalisation (docs/model.md): positions relative to the pelvis centre of the window's
centre frame, divided by the clip's body-size scale s = median over frames of the mean
observed segment length. Depth corrections are predicted in the same units (Δz / s).
Sequence ends are handled by reflecting the clip (``numpy.pad(mode="reflect")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .markersets import MarkerSet

CONTACT_SPEED_M_S = 0.15  # a foot marker slower than this and near the floor is in contact
CONTACT_HEIGHT_M = 0.05


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
    def from_dict(cls, d: dict) -> "MarkerIndex":
        shapes = {"segments": (-1, 2), "bones": (-1, 2), "symmetric": (-1, 2, 2), "limits": (-1, 3), "limit_range_rad": (-1, 2)}
        out = {}
        for k, v in d.items():
            if k == "names":
                out[k] = list(v)
            else:
                arr = np.array(v, dtype=np.float32 if k == "limit_range_rad" else np.int64)
                out[k] = arr.reshape(shapes[k]) if k in shapes else arr
        return cls(**out)

    @classmethod
    def from_markerset(cls, ms: MarkerSet, shard_markers: list[str] | None = None, source: str = "") -> "MarkerIndex":
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
            bones=np.array([[ix[a], ix[b]] for a, b in ms.bones], dtype=np.int64).reshape(-1, 2) if ms.bones else ms.segment_indices(),
            symmetric=np.array([[[ix[a], ix[b]], [ix[c], ix[d]]] for (a, b), (c, d) in ms.symmetric_segments], dtype=np.int64).reshape(-1, 2, 2),
            limits=np.array(limits, dtype=np.int64).reshape(-1, 3),
            limit_range_rad=np.array(ranges, dtype=np.float32).reshape(-1, 2),
            feet=np.array([ix[n] for n in ms.foot_markers], dtype=np.int64),
        )


def model_input(observed: np.ndarray, fps: float, lowpass_hz: float | None) -> np.ndarray:
    """The observed markers as the network sees them: depth through the fixed low-pass front end."""
    if not lowpass_hz:
        return observed
    from .filters import butterworth_depth

    return butterworth_depth(observed, fps, lowpass_hz).astype(observed.dtype)


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


def windows_of(xyz: np.ndarray, window: int) -> np.ndarray:
    """(F, M, C) → (F, window, M, C): one window centred on every frame, ends reflected."""
    half = window // 2
    n = xyz.shape[0]
    if n < window:
        raise ValueError(f"sequence of {n} frames is shorter than the model window ({window} frames)")
    padded = np.pad(xyz, [(half, half)] + [(0, 0)] * (xyz.ndim - 1), mode="reflect")
    view = sliding_window_view(padded, window, axis=0)  # (F, M, C, window)
    return np.moveaxis(view, -1, 1)


def normalise(windows: np.ndarray, index: MarkerIndex, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative (centre frame's pelvis) and scale-normalised windows; returns (x, root)."""
    centre = windows.shape[1] // 2
    root = pelvis_centre(windows[:, centre], index)  # (N, 3)
    return (windows - root[:, None, None, :]) / scale, root


def clip_supervision(true: np.ndarray, observed: np.ndarray, index: MarkerIndex, elevation_deg: float, fps: float) -> dict:
    """Per-clip quantities the losses need: body scale, reference segment lengths (the
    sequence's own estimate from the observed data), the floor height, foot-contact mask."""
    scale = body_scale(observed, index.segments)
    ref_len = np.median(np.linalg.norm(observed[:, index.segments[:, 0]] - observed[:, index.segments[:, 1]], axis=-1), axis=0)
    up = camera_up(elevation_deg)
    feet_h = true[:, index.feet] @ up  # (F, K) true foot heights along up
    floor = float(np.percentile(feet_h, 2)) if index.feet.size else 0.0
    if index.feet.size:
        speed = np.linalg.norm(np.diff(true[:, index.feet], axis=0, prepend=true[:1, index.feet]), axis=-1) * fps
        contact = (speed < CONTACT_SPEED_M_S) & (feet_h - floor < CONTACT_HEIGHT_M)
    else:
        contact = np.zeros((true.shape[0], 0), dtype=bool)
    return {"scale": scale, "ref_len": ref_len.astype(np.float32), "up": up, "floor": floor, "contact": contact}
