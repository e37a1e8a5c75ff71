"""Batched data jobs: one process turns a batch of trials into their shards.

A job per trial cost ~1.7 s of CPU for ~0.35 s of work (imports, Snakemake's per-job
overhead), and the full CMU made 7,644 such jobs. A batch job runs the same three stages per
trial (``kinematics_stage`` → ``markers_stage`` → ``corruption_stage``) through temporary
files, so every shard is byte-identical to the per-trial chain's and does not depend on the
batch size (tested). Trials go to batches by a hash of their id, so adding or editing one
trial re-runs only its batch — unless the batch count, ``ceil(trials / batch_trials)``,
changes, which rebuilds every batch (the shards come out the same).

A batch holds trials of one mocap source (``sources.<name>``: its unit, skeleton map and
file format). Each batch folder holds ``{split}/{trial}.parquet`` and ``index.json``: the
source, the frame rate, markers and segments of its shards, per shard its split, rows,
clips, sha256, seconds of motion and segment lengths, and the trials skipped with their
reason (``on_bad_file: skip``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from depthrefine.errors import DataError
from depthrefine.io import atomic_write_text
from depthrefine.markers.stages import corruption_stage, markers_stage
from depthrefine.mocap.stages import kinematics_stage

log = logging.getLogger(__name__)

INDEX_NAME = "index.json"


def assign_batches(trials, batch_trials: int) -> dict[str, list[str]]:
    """Batch name (``b000`` …) → its sorted trials; ``ceil(len(trials) / batch_trials)`` batches,
    a trial's batch fixed by the sha1 of its id (not by its place in the list)."""
    count = max(1, math.ceil(len(trials) / batch_trials))
    width = max(3, len(str(count - 1)))
    out: dict[str, list[str]] = {}
    for trial in sorted(trials):
        k = int(hashlib.sha1(trial.encode()).hexdigest()[:12], 16) % count
        out.setdefault(f"b{k:0{width}d}", []).append(trial)
    return dict(sorted(out.items()))


def shard_batch_stage(
    trials: list[dict],
    out_dir: str,
    *,
    markerset_path: str,
    fps: float,
    kinematics: dict,
    corruption: dict,
    seed: int,
    row_group_frames: int,
    on_bad_file: str = "error",
    source: str = "cmu",
) -> dict:
    """``trials``: ``{"trial", "bvh" (path: BVH or AMC), "asf" (an AMC's skeleton, else None),
    "source" (its name in the shards), "split"}`` each, all of mocap source ``source``;
    ``kinematics``: the source's unit_m, drop_first_frame, skeleton_map, amc_fps, and min_frames.
    Writes ``out_dir``/{split}/{trial}.parquet and ``out_dir``/index.json; returns the index.
    A trial whose data cannot be used raises DataError naming its file, or with
    ``on_bad_file="skip"`` is left out and listed with the reason."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries, skipped, common = [], [], {}
    with tempfile.TemporaryDirectory(prefix="depthrefine-batch-") as tmp:
        joints, markers = Path(tmp) / "joints.parquet", Path(tmp) / "markers.parquet"
        bar = tqdm(trials, desc=f"batch {out.name}", unit="trial", mininterval=5.0, file=sys.stderr)
        for t in bar:
            shard = out / t["split"] / f"{t['trial']}.parquet"
            try:
                motion = kinematics_stage(
                    t["bvh"],
                    str(joints),
                    source=t["source"],
                    fps=fps,
                    unit_m=kinematics["unit_m"],
                    drop_first=kinematics["drop_first_frame"],
                    min_frames=kinematics["min_frames"],
                    skeleton_map=kinematics["skeleton_map"],
                    asf=t.get("asf"),
                    amc_fps=kinematics.get("amc_fps", 120.0),
                )
                markers_stage(
                    str(joints),
                    str(markers),
                    markerset_path=markerset_path,
                    skeleton_map=kinematics["skeleton_map"],
                    source=t["bvh"],
                )
            except DataError as exc:
                if on_bad_file != "skip":
                    raise
                log.warning("skipping trial %s: %s", t["trial"], exc)
                skipped.append({"trial": t["trial"], "source": source, "reason": str(exc)})
                continue
            info = corruption_stage(
                str(markers),
                str(shard),
                trial=t["trial"],
                split=t["split"],
                seed=seed,
                corruption=corruption,
                row_group_frames=row_group_frames,
            )
            shape = {k: info[k] for k in ("fps", "markers", "segments")}
            if common and shape != common:
                raise DataError(t["bvh"], f"frame rate or marker list differs from the batch's other trials ({out})")
            common = shape
            entries.append(
                {
                    "path": str(shard),
                    "split": t["split"],
                    "rows": info["rows"],
                    "clips": info["clips"],
                    "sha256": hashlib.sha256(shard.read_bytes()).hexdigest(),
                    "source": source,
                    "seconds": motion["frames"] / fps,
                    "segments_m": {k: round(v, 4) for k, v in motion["segments_m"].items()},
                }
            )
    index = {"source": source, **common, "shards": entries, "skipped": skipped}
    atomic_write_text(out / INDEX_NAME, json.dumps(index, indent=1) + "\n")
    log.info("%s: %d shards, %d trials skipped", out, len(entries), len(skipped))
    return index
