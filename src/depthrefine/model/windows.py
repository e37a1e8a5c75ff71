"""From shard clips to normalised training windows (numpy), shared by training and inference.

Normalisation (docs/model.md): positions relative to the pelvis centre of the window's
centre frame, divided by the clip's body-size scale s = median over frames of the mean
observed segment length. Depth corrections are predicted in the same units (Δz / s).
Sequence ends are handled by reflecting the clip (``numpy.pad(mode="reflect")``); a clip
shorter than the window is reflected again and again (back and forth) to fill it, and
training shows the model such contexts too (``context_parts``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from depthrefine.markers.index import MarkerIndex, body_scale, camera_up, pelvis_centre

# The shortest clip refined, at the model's rate: 0.18 s at 60 fps (the first model's whole
# window). Shorter, there is no motion context to speak of.
MIN_CLIP_FRAMES = 11
CONTACT_SPEED_M_S = 0.15  # a foot marker slower than this and near the floor is in contact
CONTACT_HEIGHT_M = 0.05


def model_input(observed: np.ndarray, fps: float, lowpass_hz: float | None) -> np.ndarray:
    """The observed markers as the network sees them: depth through the fixed low-pass front end."""
    if not lowpass_hz:
        return observed
    from depthrefine.evaluation.filters import butterworth_depth

    return butterworth_depth(observed, fps, lowpass_hz).astype(observed.dtype)


def windows_of(xyz: np.ndarray, window: int) -> np.ndarray:
    """(F, M, C) → (F, window, M, C): one window centred on every frame, the clip reflected at
    its ends — repeatedly where it is shorter than half the window."""
    half = window // 2
    n = xyz.shape[0]
    if n < 2:
        raise ValueError(f"a sequence of {n} frame(s) cannot fill a window: it needs at least 2")
    padded = np.pad(xyz, [(half, half)] + [(0, 0)] * (xyz.ndim - 1), mode="reflect")
    view = sliding_window_view(padded, window, axis=0)  # (F, M, C, window)
    return np.moveaxis(view, -1, 1)


def context_parts(n: int, window: int, share: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A clip of ``n`` frames cut into consecutive (start, stop) parts, each windowed on its
    own: about ``share`` of the frames in parts shorter than the window (random lengths from
    MIN_CLIP_FRAMES, so the model sees the reflected contexts of short clips), the rest whole."""
    if share <= 0 or window <= MIN_CLIP_FRAMES or n < 2 * MIN_CLIP_FRAMES:
        return [(0, n)]
    parts, start, short_frames = [], 0, share * n
    while short_frames > 0 and n - start >= 2 * MIN_CLIP_FRAMES:
        length = int(rng.integers(MIN_CLIP_FRAMES, min(window, n - start - MIN_CLIP_FRAMES + 1)))
        parts.append((start, start + length))
        start += length
        short_frames -= length
    parts.append((start, n))
    return parts


def normalise(windows: np.ndarray, index: MarkerIndex, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative (centre frame's pelvis) and scale-normalised windows; returns (x, root)."""
    centre = windows.shape[1] // 2
    root = pelvis_centre(windows[:, centre], index)  # (N, 3)
    return (windows - root[:, None, None, :]) / scale, root


def clip_supervision(
    true: np.ndarray, observed: np.ndarray, index: MarkerIndex, elevation_deg: float, fps: float
) -> dict:
    """Per-clip quantities the losses need: body scale, reference segment lengths (the
    sequence's own estimate from the observed data), the floor height, foot-contact mask."""
    scale = body_scale(observed, index.segments)
    ref_len = np.median(
        np.linalg.norm(observed[:, index.segments[:, 0]] - observed[:, index.segments[:, 1]], axis=-1), axis=0
    )
    up = camera_up(elevation_deg)
    feet_h = true[:, index.feet] @ up  # (F, K) true foot heights along up
    floor = float(np.percentile(feet_h, 2)) if index.feet.size else 0.0
    if index.feet.size:
        speed = np.linalg.norm(np.diff(true[:, index.feet], axis=0, prepend=true[:1, index.feet]), axis=-1) * fps
        contact = (speed < CONTACT_SPEED_M_S) & (feet_h - floor < CONTACT_HEIGHT_M)
    else:
        contact = np.zeros((true.shape[0], 0), dtype=bool)
    return {"scale": scale, "ref_len": ref_len.astype(np.float32), "up": up, "floor": floor, "contact": contact}
