"""Classical smoothing baselines, applied to the depth coordinate only (as the refiner is)."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, filtfilt, savgol_filter


def butterworth_depth(xyz: np.ndarray, fps: float, cutoff_hz: float = 6.0, order: int = 4) -> np.ndarray:
    """Zero-lag Butterworth low-pass of z: a (order/2)-order filter run forward and back, i.e.
    a 4th-order zero-lag filter at 6 Hz by default (the OpenCap / Pose2Sim setting)."""
    b, a = butter(order // 2, cutoff_hz / (fps / 2.0), btype="low")
    out = xyz.copy()
    out[:, :, 2] = filtfilt(b, a, xyz[:, :, 2], axis=0, padlen=min(3 * max(len(a), len(b)), xyz.shape[0] - 1))
    return out


def savgol_depth(xyz: np.ndarray, fps: float, window_s: float = 0.25, polyorder: int = 3) -> np.ndarray:
    """Savitzky–Golay smoothing of z over ``window_s`` seconds (odd frame count)."""
    length = max(polyorder + 2 + (polyorder % 2 == 0), int(round(window_s * fps)) | 1)
    length = min(length, xyz.shape[0] - (1 - xyz.shape[0] % 2))
    out = xyz.copy()
    out[:, :, 2] = savgol_filter(xyz[:, :, 2], length, polyorder, axis=0, mode="interp")
    return out
