"""Multi-camera stage: synchronised, calibrated videos → a triangulated reference of real
people, and every camera × person pair as a monocular recording scored against it
(docs/multiview.md).

- ``read_calibration``, ``read_qca``, ``read_toml``, ``write_toml``, ``Camera``: calibrations.
- ``triangulate``, ``dlt``: points from ≥ 3 views, refined on the pixel error, views chosen as Pose2Sim does.
- ``associate_frame``, ``link_people``, ``agree_labels``, ``agree_limb_labels``: who is who.
- ``refine_rotations``: one small rotation per camera, fitted on the people.
- ``build_reference``, ``ReferenceConfig``: the whole reference of a session.
- ``find_sessions``: session folders; ``session_reference``, ``pair_recording``: the rules.
"""

from depthrefine._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "Camera": "calibration",
        "read_calibration": "calibration",
        "read_qca": "calibration",
        "read_toml": "calibration",
        "write_toml": "calibration",
        "triangulate": "triangulation",
        "dlt": "triangulation",
        "associate_frame": "association",
        "link_people": "association",
        "agree_labels": "association",
        "agree_limb_labels": "association",
        "refine_rotations": "refinement",
        "build_reference": "reference",
        "ReferenceConfig": "reference",
        "find_sessions": "session",
        "session_reference": "stages",
        "pair_recording": "stages",
    },
)
