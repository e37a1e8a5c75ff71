"""Parquet tables of the workflow: joints and world markers per trial, and corrupted shards.

Every schema is a pyarrow constant here and written down in docs/data.md; tests check both.
Positions are float32 metres, flattened per frame as x0 y0 z0 x1 y1 z1 ….
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from depthrefine.io import atomic_path
from depthrefine.mocap.kinematics import JointTrajectories

# ---- shards: one row per frame of one corrupted clip variant (camera frame) -------------
SHARD_FIXED_COLUMNS = [
    pa.field("clip_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("frame", pa.int32()),
    pa.field("fps", pa.float32()),
    pa.field("camera_azimuth_deg", pa.float32()),
    pa.field("camera_elevation_deg", pa.float32()),
    pa.field("noise_mm", pa.float32()),
]
SHARD_EXTRA_COLUMNS = [
    pa.field("trial", pa.string()),
    pa.field("variant", pa.int16()),
    pa.field("split", pa.string()),
    pa.field("camera_distance_m", pa.float32()),
    pa.field("flipped", pa.bool_()),  # a limb front/back flip is active in this frame
]


def shard_schema(
    num_markers: int, markers: list[str], segments: list[tuple[str, str]], extra: dict | None = None
) -> pa.Schema:
    xyz = pa.list_(pa.float32(), 3 * num_markers)
    fields = SHARD_FIXED_COLUMNS + [pa.field("true_xyz", xyz), pa.field("observed_xyz", xyz)] + SHARD_EXTRA_COLUMNS
    meta = {"markers": json.dumps(list(markers)), "segments": json.dumps([list(s) for s in segments])}
    meta.update(extra or {})
    return pa.schema(fields, metadata={k: str(v) for k, v in meta.items()})


def fixed_list(array: np.ndarray) -> pa.FixedSizeListArray:
    """(N, M, 3) or (N, 3M) float → fixed-size list<float32>[3M] column without copies per row."""
    flat = np.ascontiguousarray(array, dtype=np.float32).reshape(array.shape[0], -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def column_xyz(table: pa.Table, name: str) -> np.ndarray:
    """A fixed-size list column as (N, M, 3) float32."""
    col = table.column(name).combine_chunks()
    width = col.type.list_size
    return col.values.to_numpy(zero_copy_only=False).reshape(len(col), width // 3, 3)


def table_metadata(path_or_schema) -> dict[str, str]:
    schema = pq.read_schema(path_or_schema) if isinstance(path_or_schema, (str, Path)) else path_or_schema
    return {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}


def write_parquet(table: pa.Table, path: str | Path, row_group_size: int | None = None) -> None:
    """Atomic, deterministic Parquet write (no timestamps: same table → same bytes)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size, compression="zstd", write_statistics=True)


# ---- joints: per trial, world frame of the source (Y up), resampled ---------------------
def write_joints(traj: JointTrajectories, path: str | Path, source: str) -> None:
    n = traj.positions_m.shape[0]
    table = pa.table(
        {
            "frame": pa.array(np.arange(n, dtype=np.int32)),
            "positions_m": fixed_list(traj.positions_m),
            "rotations": fixed_list(traj.rotations.reshape(n, -1, 3)),
        }
    )
    meta = {
        "joints": json.dumps(list(traj.names)),
        "parents": json.dumps([int(p) for p in traj.parents]),
        "fps": repr(float(traj.fps)),
        "rest_positions_m": json.dumps(np.round(traj.rest_positions_m, 7).tolist()),
        "translating": json.dumps([bool(t) for t in traj.translating]) if traj.translating is not None else "null",
        "source": source,
        "axes": "world: y up, metres (source axes)",
    }
    write_parquet(table.replace_schema_metadata(meta), path)


def read_joints(path: str | Path) -> JointTrajectories:
    table = pq.read_table(path)
    meta = table_metadata(table.schema)
    n = table.num_rows
    translating = json.loads(meta["translating"])
    return JointTrajectories(
        names=tuple(json.loads(meta["joints"])),
        parents=np.array(json.loads(meta["parents"])),
        fps=float(meta["fps"]),
        positions_m=column_xyz(table, "positions_m").astype(np.float64),
        rotations=column_xyz(table, "rotations").astype(np.float64).reshape(n, -1, 3, 3),
        rest_positions_m=np.array(json.loads(meta["rest_positions_m"])),
        translating=None if translating is None else np.array(translating),
    )


# ---- world markers: per trial, same axes as joints -------------------------------------
def write_world_markers(
    xyz: np.ndarray,
    path: str | Path,
    *,
    fps: float,
    source: str,
    markerset,
    marker_groups: list[str],
    segment_parents: dict,
) -> None:
    table = pa.table({"frame": pa.array(np.arange(xyz.shape[0], dtype=np.int32)), "xyz_m": fixed_list(xyz)})
    meta = {
        "markers": json.dumps(markerset.names),
        "segments": json.dumps([list(s) for s in markerset.segments]),
        "marker_groups": json.dumps(marker_groups),  # the segment carrying each marker
        "segment_parents": json.dumps(segment_parents),
        "pelvis_markers": json.dumps(markerset.pelvis_markers),
        "markerset": markerset.name,
        "fps": repr(float(fps)),
        "source": source,
        "axes": "world: y up, metres (source axes)",
    }
    write_parquet(table.replace_schema_metadata(meta), path)


def read_world_markers(path: str | Path) -> tuple[np.ndarray, dict]:
    table = pq.read_table(path)
    meta = table_metadata(table.schema)
    return column_xyz(table, "xyz_m").astype(np.float64), meta


# ---- observations: markers of one real recording (video or marker file), camera frame ----
# The shard schema's per-frame columns without true_xyz (there is no ground truth): camera
# angles and noise are null; `filled` flags frames with interpolated markers.
def write_observations(
    path: str | Path,
    observed: np.ndarray,
    *,
    clip_id: str,
    source: str,
    fps: float,
    markers: list[str],
    segments,
    markerset_name: str,
    filled: np.ndarray,
    refined: np.ndarray | None = None,
    extra: dict | None = None,
    image: np.ndarray | None = None,
    learned: np.ndarray | None = None,
) -> None:
    """``image``: (F, M, 3) per marker its camera ray (normalised image x, y: x/z, y/z) and the
    detector's visibility, for markers from a video (``depthrefine.capture.rays``);
    ``refined``: the chain's final output; ``learned``: the refiner's own, when a bone fit
    followed it."""
    n = observed.shape[0]
    null = pa.nulls(n, pa.float32())
    columns = {
        "clip_id": pa.array([clip_id] * n, pa.string()),
        "source": pa.array([source] * n, pa.string()),
        "frame": pa.array(np.arange(n, dtype=np.int32)),
        "fps": pa.array(np.full(n, fps, dtype=np.float32)),
        "camera_azimuth_deg": null,
        "camera_elevation_deg": null,
        "noise_mm": null,
        "observed_xyz": fixed_list(observed),
    }
    if refined is not None:
        columns["refined_xyz"] = fixed_list(refined)
    if learned is not None:
        columns["learned_xyz"] = fixed_list(learned)
    columns["filled"] = pa.array(np.asarray(filled, dtype=bool))
    if image is not None:
        columns["ray_xy"] = pa.FixedSizeListArray.from_arrays(
            pa.array(np.ascontiguousarray(image[..., :2], dtype=np.float32).reshape(-1)), 2 * len(markers)
        )
        columns["visibility"] = pa.FixedSizeListArray.from_arrays(
            pa.array(np.ascontiguousarray(image[..., 2], dtype=np.float32).reshape(-1)), len(markers)
        )
    meta = {
        "markers": json.dumps(list(markers)),
        "segments": json.dumps([list(s) for s in segments]),
        "markerset": markerset_name,
        "fps": repr(float(fps)),
        "source": source,
        "axes": "camera: x right, y down, z forward (depth), metres",
    }
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (extra or {}).items()})
    write_parquet(pa.table(columns).replace_schema_metadata(meta), path)


def read_observations(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, pa.Table, dict]:
    """(observed, refined or None, table, metadata) of an observations / shard-schema file."""
    table = pq.read_table(path)
    meta = table_metadata(table.schema)
    refined = column_xyz(table, "refined_xyz").astype(np.float64) if "refined_xyz" in table.column_names else None
    return column_xyz(table, "observed_xyz").astype(np.float64), refined, table, meta


def read_learned(table: pa.Table) -> np.ndarray | None:
    """The refiner's own output (before the bone fit) of a refined video, else None."""
    return column_xyz(table, "learned_xyz").astype(np.float64) if "learned_xyz" in table.column_names else None


def read_rays(table: pa.Table) -> tuple[np.ndarray, np.ndarray] | None:
    """(rays (F, M, 2), visibility (F, M)) of an observations table from a video, else None."""
    if "ray_xy" not in table.column_names:
        return None
    n = table.num_rows
    rays = table.column("ray_xy").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(n, -1, 2)
    vis = table.column("visibility").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(n, -1)
    return rays.astype(np.float64), vis.astype(np.float64)
