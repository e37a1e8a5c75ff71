"""Every BlazePose detection of one camera of a session, in both running modes, saved as
padded arrays (NaN where a frame has fewer detections than the most crowded one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthrefine.capture.pose import Detections, detect_poses


def _padded(per_frame: list[list[np.ndarray]]) -> np.ndarray:
    most = max([len(d) for d in per_frame] + [1])
    out = np.full((len(per_frame), most, 33, 3), np.nan, dtype=np.float32)
    for f, dets in enumerate(per_frame):
        for k, d in enumerate(dets):
            out[f, k] = d
    return out


def camera_poses(video: str, pose_model: str, out_npz: str, *, max_people: int, modes: list[str]) -> None:
    """Detect every person in every frame of ``video`` in each of ``modes`` and save them."""
    from depthrefine.io import atomic_path

    arrays = {}
    info = None
    for mode in modes:
        found = detect_poses(video, pose_model, max_people=max_people, mode=mode)
        arrays[f"{mode}_image"] = _padded(found.image)
        arrays[f"{mode}_world"] = _padded(found.world)
        info = found
    with atomic_path(out_npz) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, fps=info.fps, size=np.array([info.width, info.height]), modes=np.array(modes), **arrays)


def load_camera_poses(path: str | Path) -> dict[str, Detections]:
    """mode → Detections, as saved by ``camera_poses``."""
    with np.load(path) as z:
        out = {}
        for mode in [str(m) for m in z["modes"]]:
            image, world = z[f"{mode}_image"], z[f"{mode}_world"]
            keep = [np.flatnonzero(np.isfinite(image[f, :, 0, 0])) for f in range(len(image))]
            out[mode] = Detections(
                [[image[f, k].astype(np.float64) for k in ks] for f, ks in enumerate(keep)],
                [[world[f, k].astype(np.float64) for k in ks] for f, ks in enumerate(keep)],
                float(z["fps"]),
                int(z["size"][0]),
                int(z["size"][1]),
            )
    return out
