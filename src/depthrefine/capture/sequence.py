"""Marker sequences from real capture: gap filling, trimming and resampling to the model rate.

A frame is *missing* for a marker when any of its coordinates is NaN (no detection, or an
empty TRC field). Leading and trailing frames with missing markers are trimmed; interior gaps
up to ``max_gap_s`` are filled by shape-preserving (PCHIP) interpolation per marker; a longer
interior gap is an error that names the file, the marker and the time span.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline, PchipInterpolator
from scipy.signal import butter, filtfilt

from depthrefine.errors import DataError


@dataclass
class Cleaned:
    xyz: np.ndarray  # (F, M, 3) no NaN
    filled: np.ndarray  # (F,) bool: some marker of the frame was interpolated
    first_frame: int  # index of the first kept input frame
    trimmed: dict = field(default_factory=dict)  # {"start": frames, "end": frames}
    gaps: list = field(default_factory=list)  # filled gaps: [{"start_s", "frames", "markers": how many}]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2], edges[1::2]))


def fill_gaps(xyz: np.ndarray, fps: float, max_gap_s: float, markers: list[str], source: str) -> Cleaned:
    missing = ~np.isfinite(xyz).all(axis=2)  # (F, M)
    complete = ~missing.any(axis=1)
    if not complete.any():
        raise DataError(source, "no frame has every marker (no person detected, or all markers missing)")
    first, last = int(np.argmax(complete)), int(len(complete) - 1 - np.argmax(complete[::-1]))
    out = xyz[first : last + 1].astype(np.float64, copy=True)
    missing = missing[first : last + 1]
    max_gap = int(np.floor(max_gap_s * fps + 1e-9))
    t = np.arange(out.shape[0])
    for m in range(out.shape[1]):
        runs = _runs(missing[:, m])
        for start, stop in runs:
            if stop - start > max_gap:
                raise DataError(
                    source,
                    f"marker {markers[m]!r} is missing for {stop - start} frames ({(stop - start) / fps:.2f} s) from "
                    f"t = {(first + start) / fps:.2f} s; gaps up to gap_fill_s = {max_gap_s} s ({max_gap} frames) are "
                    "filled, longer ones are refused",
                )
        if runs:
            ok = ~missing[:, m]
            out[~ok, m] = PchipInterpolator(t[ok], out[ok, m], axis=0)(t[~ok])
    gaps = [
        {
            "start_s": round(float((first + a) / fps), 4),
            "frames": int(b - a),
            "markers": int(missing[a:b].any(axis=0).sum()),
        }
        for a, b in _runs(missing.any(axis=1))
    ]
    return Cleaned(out, missing.any(axis=1), first, {"start": first, "end": len(xyz) - 1 - last}, gaps)


def resample(xyz: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample (F, M, 3) to ``fps_out`` over the same time span: cubic spline, with a zero-lag
    anti-alias low-pass (0.8 × the new Nyquist) first when the rate goes down."""
    if abs(fps_in - fps_out) < 1e-9:
        return xyz
    if xyz.shape[0] < 4:
        raise ValueError(f"{xyz.shape[0]} frames are too few to resample")
    if fps_out < fps_in:
        b, a = butter(2, 0.8 * fps_out / fps_in, btype="low")
        xyz = filtfilt(b, a, xyz, axis=0, padlen=min(3 * len(a), xyz.shape[0] - 1))
    t_in = np.arange(xyz.shape[0]) / fps_in
    n_out = int(np.floor(t_in[-1] * fps_out + 1e-9)) + 1
    return CubicSpline(t_in, xyz, axis=0)(np.arange(n_out) / fps_out)


def resample_mask(mask: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """A per-frame flag carried to the new rate (nearest input frame)."""
    n_out = int(np.floor((len(mask) - 1) / fps_in * fps_out + 1e-9)) + 1
    return mask[np.minimum(np.rint(np.arange(n_out) * fps_in / fps_out).astype(int), len(mask) - 1)]
