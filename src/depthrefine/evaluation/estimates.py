"""A recording's estimates, shared by its report and its joint angles: the raw markers, the
Butterworth and Savitzky–Golay baselines, the learned refinement and, for video input, the
raw markers on their camera rays and the chain's final output: the refined markers fitted to
the clip's constant bone lengths within the 2D detector's error of their rays
(capture/bonefit.py, run by refine_markers)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from depthrefine.capture.rays import on_rays
from depthrefine.evaluation.filters import butterworth_depth, savgol_depth
from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import MarkerSet, load_markerset
from depthrefine.tables import read_learned, read_observations, read_rays


@dataclass
class Recording:
    observed: np.ndarray  # (F, M, 3) camera frame, metres
    refined: np.ndarray  # the chain's final output (for video: the bone fit)
    learned: np.ndarray | None  # the refiner's own output when a bone fit followed it (video)
    rays: tuple | None  # read_rays(...) for video input, else None
    meta: dict
    markerset: MarkerSet
    index: MarkerIndex
    fps: float


def load_recording(refined_parquet: str, markerset_path: str) -> Recording:
    observed, refined, table, meta = read_observations(refined_parquet)
    if refined is None:
        raise ValueError(f"{refined_parquet}: no refined_xyz column (run the refinement first)")
    ms = load_markerset(markerset_path)
    index = MarkerIndex.from_markerset(ms, json.loads(meta["markers"]), source=refined_parquet)
    return Recording(observed, refined, read_learned(table), read_rays(table), meta, ms, index, float(meta["fps"]))


def estimates(rec: Recording, savgol_window_s: float | None = 0.25) -> dict[str, np.ndarray]:
    """method → (F, M, 3); Savitzky–Golay left out when savgol_window_s is None. For video the
    refinement step stored both the refiner's output ("learned") and the bone fit's."""
    out = {"raw": rec.observed, "butterworth_6hz": butterworth_depth(rec.observed, rec.fps)}
    if savgol_window_s is not None:
        out["savitzky_golay"] = savgol_depth(rec.observed, rec.fps, savgol_window_s)
    out["learned"] = rec.refined if rec.learned is None else rec.learned
    if rec.rays is not None:
        out["rays"] = on_rays(rec.observed, *rec.rays)
        if rec.learned is None:
            raise ValueError(
                f"{rec.meta.get('source')}: a video's refined markers without the refiner's own output "
                "(learned_xyz): refined by an older version; run the refinement again"
            )
        out["bone_fit"] = rec.refined
    return out
