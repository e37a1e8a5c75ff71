"""Marker stage: marker sets on the skeleton, the virtual camera and depth corruption, the
train/val/test split, and the shard set.

- ``load_markerset``: a marker-set YAML (with its includes), checked.
- ``joints_to_markers``: marker positions from joint trajectories.
- ``MarkerIndex``: a marker set's structure as index arrays in shard column order.
- ``corrupt``: the virtual camera and monocular depth errors for one clip variant.
- ``assign_splits``: trial → split, by subject or file, deterministic.
- ``markers_stage``, ``corruption_stage``: a trial's steps in a batch job.
- ``shard_batch_stage``, ``assign_batches``: the workflow's batched data job and its batches.
- ``shard_manifest``: the shard set from the batches' indexes.
- ``build_shard_set``: the whole data chain without Snakemake (tests, benchmarks).
"""

from depthrefine._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "load_markerset": "markersets",
        "joints_to_markers": "markersets",
        "MarkerIndex": "index",
        "corrupt": "corruption",
        "assign_splits": "split",
        "markers_stage": "stages",
        "corruption_stage": "stages",
        "shard_manifest": "stages",
        "shard_batch_stage": "batch",
        "assign_batches": "batch",
        "build_shard_set": "stages",
    },
)
