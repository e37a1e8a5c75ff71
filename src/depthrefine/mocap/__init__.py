"""Mocap stage: get the motion capture, read it, and run forward kinematics.

- ``acquire``: copy a source (git / archive / folder) into place and write its sha256 manifest.
- ``read_manifest``: the rows of an acquisition manifest.
- ``read_bvh``: parse a BVH file (errors name the file, line and frame).
- ``read_asf``, ``read_amc``: parse an ASF skeleton and its AMC motion.
- ``amc_joint_positions``: world joint positions of an AMC motion on its ASF skeleton.
- ``bvh_to_joints``: forward kinematics of a BVH motion, in metres.
- ``resample``: joint trajectories at another frame rate.
- ``kinematics_stage``: one BVH file → joints Parquet (the first step of a `shard_batch` job).
"""

from depthrefine._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "acquire": "acquire",
        "read_manifest": "acquire",
        "read_bvh": "bvh",
        "read_asf": "asf_amc",
        "read_amc": "asf_amc",
        "amc_joint_positions": "asf_amc",
        "bvh_to_joints": "kinematics",
        "resample": "kinematics",
        "kinematics_stage": "stages",
    },
)
