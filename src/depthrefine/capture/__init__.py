"""Capture stage: a real recording (video or marker file) → cleaned camera-frame markers.

- ``estimate_poses``: BlazePose on every video frame, one person followed.
- ``fill_gaps``: short gaps interpolated, long ones refused (naming marker and time).
- ``resample``: markers at another frame rate.
- ``fit_floor``: the floor plane under the feet.
- ``read_trc``, ``write_trc``: TRC marker files.
- ``markers_from_video``, ``markers_from_file``, ``refine_markers``: the workflow's recording rules.
- ``find_recordings``: recording name → video or marker file.
"""

from depthrefine._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "estimate_poses": "pose",
        "fill_gaps": "sequence",
        "resample": "sequence",
        "fit_floor": "floor",
        "read_trc": "trc",
        "write_trc": "trc",
        "markers_from_video": "recording",
        "markers_from_file": "recording",
        "refine_markers": "recording",
        "find_recordings": "sources",
    },
)
