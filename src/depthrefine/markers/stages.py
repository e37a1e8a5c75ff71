"""One function per workflow stage: read inputs, call the modules, write outputs atomically.

The Snakemake scripts under workflow/scripts are thin wrappers around these.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa

from depthrefine import tables
from depthrefine.io import atomic_write_text
from depthrefine.markers.corruption import CorruptionConfig, corrupt
from depthrefine.markers.markersets import joints_to_markers, load_markerset
from depthrefine.markers.monocular import whole_limbs
from depthrefine.markers.virtual_camera import mirror_index

log = logging.getLogger(__name__)


def markers_stage(
    joints_path: str, out_path: str, *, markerset_path: str, skeleton_map: str | None = None, source: str | None = None
) -> None:
    """``skeleton_map``: the source's map (default cgspeed's); ``source``: the file to name in
    errors (default: the joints table's source)."""
    from depthrefine.mocap.anatomy import SEGMENT_PARENTS
    from depthrefine.mocap.skeleton_map import cached_skeleton_map

    traj = tables.read_joints(joints_path)
    meta = tables.table_metadata(joints_path)
    markerset = load_markerset(markerset_path)
    smap = cached_skeleton_map(skeleton_map) if skeleton_map else None
    xyz = joints_to_markers(traj, markerset, smap, source=source or meta.get("source", joints_path))
    tables.write_world_markers(
        xyz,
        out_path,
        fps=traj.fps,
        source=meta["source"],
        markerset=markerset,
        marker_groups=[m.frame for m in markerset.markers],
        segment_parents=SEGMENT_PARENTS,
    )


def limb_markers(groups: list[str], segment_parents: dict, limbs: list[str]) -> list[list[int]]:
    """For each limb (a segment), the markers carried by it or by any segment below it."""

    def below(segment: str, top: str) -> bool:
        while segment is not None:
            if segment == top:
                return True
            segment = segment_parents.get(segment)
        return False

    out = []
    for top in limbs:
        members = [i for i, g in enumerate(groups) if below(g, top)]
        if len(members) >= 2:
            out.append(members)
    return out


def corruption_stage(
    markers_path: str,
    out_path: str,
    *,
    trial: str,
    split: str,
    seed: int,
    corruption: dict,
    row_group_frames: int = 4096,
) -> dict:
    """Writes the shard; returns what its manifest entry needs without reading it back:
    rows, clips, frame rate, markers and segments."""
    world, meta = tables.read_world_markers(markers_path)
    fps = float(meta["fps"])
    markers = json.loads(meta["markers"])
    segments = json.loads(meta["segments"])
    groups = json.loads(meta["marker_groups"])
    pelvis_names = json.loads(meta["pelvis_markers"])
    pelvis = (markers.index(pelvis_names["left"]), markers.index(pelvis_names["right"]))
    parents = json.loads(meta["segment_parents"])
    limbs = limb_markers(groups, parents, corruption["flip_limbs"])
    limbs_fitted = whole_limbs(groups, parents)
    mirror = mirror_index(markers)
    cfg = CorruptionConfig.from_dict(corruption)
    n = world.shape[0]
    batches = []
    for v in range(cfg.variants):
        clip = f"{trial}#v{v}"
        out = corrupt(
            world, fps, clip=clip, variant=v, seed=seed, cfg=cfg, pelvis=pelvis, groups=groups, limbs=limbs,
            whole_limbs=limbs_fitted, mirror=mirror,
        )  # fmt: skip
        cam = out["camera"]
        batches.append(
            {
                "clip_id": pa.array([clip] * n),
                "source": pa.array([meta["source"]] * n),
                "frame": pa.array(np.arange(n, dtype=np.int32)),
                "fps": pa.array(np.full(n, fps, dtype=np.float32)),
                "camera_azimuth_deg": pa.array(np.full(n, cam.azimuth_deg, dtype=np.float32)),
                "camera_elevation_deg": pa.array(np.full(n, cam.elevation_deg, dtype=np.float32)),
                "noise_mm": pa.array(np.full(n, out["noise_mm"], dtype=np.float32)),
                "true_xyz": tables.fixed_list(out["true"]),
                "observed_xyz": tables.fixed_list(out["observed"]),
                "trial": pa.array([trial] * n),
                "variant": pa.array(np.full(n, v, dtype=np.int16)),
                "split": pa.array([split] * n),
                "camera_distance_m": pa.array(np.full(n, cam.distance_m, dtype=np.float32)),
                "flipped": pa.array(out["flipped"]),
            }
        )
    schema = tables.shard_schema(
        len(markers),
        markers,
        [tuple(s) for s in segments],
        extra={"markerset": meta.get("markerset", ""), "axes": "camera: x right, y down, z forward (depth), metres"},
    )
    table = pa.concat_tables([pa.table(b, schema=schema) for b in batches])
    # One row group per clip variant (capped), so a reader fetches whole clips cheaply.
    tables.write_parquet(table, out_path, row_group_size=min(max(n, 1), row_group_frames))
    return {"rows": table.num_rows, "clips": cfg.variants, "fps": fps, "markers": markers, "segments": segments}


def shard_manifest(
    batch_dirs: list[str], out_path: str, *, shards_root: str, splits: dict[str, str], config: dict
) -> dict:
    """Manifest of the shard set (JSON) from the batch folders' indexes: per shard its split,
    rows, clips, sha256 and source; marker names, frame rate, skipped trials, and a summary per
    source (``source_summary``). Batch folders under ``shards_root`` that are not in the set
    (an earlier batch count, a disabled source) are removed whole: a batch folder is one job's
    output, and one left without its shards would count as done when taken back. Other shards
    that are not in the set are removed too."""
    from depthrefine.markers.batch import INDEX_NAME

    entries, skipped, markers, segments, fps = [], [], None, None, None
    for folder in sorted(batch_dirs):
        index = json.loads((Path(folder) / INDEX_NAME).read_text())
        skipped += index["skipped"]
        if not index["shards"]:
            continue
        if markers is None:
            markers, segments, fps = index["markers"], index["segments"], index["fps"]
        elif index["markers"] != markers:
            raise ValueError(f"{folder}: marker list differs from the other batches' shards")
        elif index["fps"] != fps:
            raise ValueError(f"{folder}: frame rate {index['fps']} differs from the other batches' ({fps} fps)")
        gone = [e["path"] for e in index["shards"] if not Path(e["path"]).is_file()]
        if gone:
            raise FileNotFoundError(
                f"{folder}: its index lists {len(gone)} shard(s) that are gone (first: {gone[0]}); "
                f"delete the folder and run again to rebuild it"
            )
        entries += index["shards"]
    entries.sort(key=lambda e: e["path"])
    shard_paths = [e["path"] for e in entries]
    current = {Path(folder).resolve() for folder in batch_dirs}
    for index in list(Path(shards_root).rglob(INDEX_NAME)):
        if index.parent.resolve() not in current:
            log.info("removing batch folder %s (not in this shard set)", index.parent)
            shutil.rmtree(index.parent)
    keep = {str(Path(p).resolve()) for p in shard_paths}
    for stale in Path(shards_root).rglob("*.parquet"):
        if str(stale.resolve()) not in keep:
            log.info("removing stale shard %s", stale)
            stale.unlink()
    summary = {
        split: {
            "shards": sum(e["split"] == split for e in entries),
            "rows": sum(e["rows"] for e in entries if e["split"] == split),
            "clips": sum(e["clips"] for e in entries if e["split"] == split),
        }
        for split in ("train", "val", "test")
    }
    manifest = {
        "fps": fps,
        "markers": markers,
        "segments": segments,
        "splits": summary,
        "trial_splits": dict(sorted(splits.items())),
        "config": config,
        "sources": source_summary(entries, skipped),
        "skipped": sorted(skipped, key=lambda t: t["trial"]),
        "shards": entries,
    }
    atomic_write_text(out_path, json.dumps(manifest, indent=2) + "\n")
    return manifest


def source_summary(entries: list[dict], skipped: list[dict]) -> dict:
    """Per mocap source: trials per split, minutes of motion, skipped trials, and the spread
    of each segment length over its trials (median, 5th and 95th percentile, metres)."""
    out = {}
    for name in sorted({e.get("source", "?") for e in entries} | {t.get("source", "?") for t in skipped}):
        mine = [e for e in entries if e.get("source", "?") == name]
        lengths: dict[str, list[float]] = {}
        for e in mine:
            for segment, value in e.get("segments_m", {}).items():
                lengths.setdefault(segment, []).append(value)
        out[name] = {
            "trials": {split: sum(e["split"] == split for e in mine) for split in ("train", "val", "test")},
            "minutes": round(sum(e.get("seconds", 0.0) for e in mine) / 60, 2),
            "skipped": sum(t.get("source", "?") == name for t in skipped),
            "segments_m": {
                k: [round(float(q), 3) for q in np.percentile(v, [50, 5, 95])] for k, v in sorted(lengths.items())
            },
        }
    return out


def repo_relative(kinematics: dict) -> dict:
    """The kinematics section with its skeleton map found from the checkout, not the working
    directory (library use runs anywhere; the workflow runs in the checkout)."""
    from depthrefine.settings import SCHEMA

    path = kinematics.get("skeleton_map")
    if path and not Path(path).is_absolute():
        return {**kinematics, "skeleton_map": str(SCHEMA.parents[2] / path)}
    return kinematics


def build_shard_set(
    bvh_root: str | Path,
    splits: dict[str, str],
    out_root: str | Path,
    *,
    markerset_path: str,
    corruption: dict | None = None,
    seed: int = 0,
) -> Path:
    """Every stage without Snakemake, for a few trials (tests, benchmarks, notebooks):
    ``splits`` maps trial ids (paths under ``bvh_root`` without .bvh) to a split; ``corruption``
    overrides the config defaults of that section. Returns the shard manifest's path under
    ``out_root``/shards."""
    from depthrefine.markers.batch import shard_batch_stage
    from depthrefine.settings import batch_kinematics, config_section, defaults, source_settings

    config = defaults()
    root = Path(out_root)
    batch = root / "shards" / "batches" / "b000"
    trials = [
        {"trial": t, "bvh": str(Path(bvh_root) / f"{t}.bvh"), "asf": None, "source": f"{t}.bvh", "split": split}
        for t, split in splits.items()
    ]

    shard_batch_stage(
        trials,
        str(batch),
        markerset_path=markerset_path,
        fps=config["fps"],
        kinematics=repo_relative(batch_kinematics(source_settings(), config["kinematics"])),
        corruption=config_section("corruption", corruption),
        seed=seed,
        row_group_frames=config["shards"]["row_group_frames"],
    )
    manifest = root / "shards" / "manifest.json"
    shard_manifest([str(batch)], str(manifest), shards_root=str(root / "shards"), splits=splits, config={})
    return manifest
