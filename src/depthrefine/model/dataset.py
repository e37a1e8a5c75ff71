"""Shard clips → batches of normalised windows for training and validation.

Shards are streamed (a worker loads one trial's shard at a time), so the full CMU set never
has to fit in memory; windows of several shards are mixed in a shuffle buffer. The stream
yields whole batches (numpy → torch once per batch, no per-sample collation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from depthrefine.markers.index import MarkerIndex
from depthrefine.model.windows import (
    clip_supervision,
    context_parts,
    model_input,
    normalise,
    windows_of,
)
from depthrefine.tables import column_xyz

# Share of the training frames whose window holds only a part of their clip shorter than the
# window (reflected back and forth), as a video clip shorter than the window is at inference;
# validation windows always see their whole clip.
SHORT_CONTEXT_SHARE = 0.25


@dataclass
class Clip:
    clip_id: str
    trial: str
    source: str
    fps: float
    elevation_deg: float
    azimuth_deg: float
    noise_mm: float
    observed: np.ndarray  # (F, M, 3) float32, camera frame, metres
    true: np.ndarray | None  # (F, M, 3) or None (no ground truth, e.g. video)


def read_shard_clips(path: str) -> tuple[list[Clip], list[str]]:
    """All clips of a shard file, in file order, and the marker names."""
    table = pq.read_table(path)
    markers = json.loads(table.schema.metadata[b"markers"])
    observed = column_xyz(table, "observed_xyz")
    true = column_xyz(table, "true_xyz") if "true_xyz" in table.column_names else None
    ids = table.column("clip_id").to_numpy(zero_copy_only=False)
    clips = []
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    col = {
        name: table.column(name).to_numpy(zero_copy_only=False)
        for name in ("source", "fps", "camera_elevation_deg", "camera_azimuth_deg", "noise_mm")
    }
    trial = table.column("trial").to_numpy(zero_copy_only=False) if "trial" in table.column_names else ids
    for s, e in zip(starts, ends):
        clips.append(
            Clip(
                clip_id=str(ids[s]),
                trial=str(trial[s]),
                source=str(col["source"][s]),
                fps=float(col["fps"][s]),
                elevation_deg=float(col["camera_elevation_deg"][s]),
                azimuth_deg=float(col["camera_azimuth_deg"][s]),
                noise_mm=float(col["noise_mm"][s]),
                observed=observed[s:e].astype(np.float32),
                true=None if true is None else true[s:e].astype(np.float32),
            )
        )
    return clips, markers


def clip_training_windows(
    clip: Clip,
    index: MarkerIndex,
    window: int,
    stride: int = 1,
    lowpass_hz: float | None = None,
    short_share: float = 0.0,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Every ``stride``-th centred window of a clip, normalised, with what the losses need;
    ``short_share`` of the frames see only a part of the clip shorter than the window
    (windows.context_parts), as a short clip does at inference."""
    observed = model_input(clip.observed, clip.fps, lowpass_hz)
    sup = clip_supervision(clip.true, observed, index, clip.elevation_deg, clip.fps)
    parts = context_parts(len(observed), window, short_share, rng) if rng is not None else [(0, len(observed))]

    def windowed(a: np.ndarray) -> np.ndarray:
        return np.concatenate([windows_of(a[start:stop], window) for start, stop in parts])[::stride]

    obs_w, true_w = windowed(observed), windowed(clip.true)
    x, root = normalise(obs_w, index, sup["scale"])
    true = (true_w - root[:, None, None, :]) / sup["scale"]
    contact = windowed(sup["contact"][:, :, None])[..., 0]
    n = x.shape[0]
    return {
        "x": x.astype(np.float32),
        "true": true.astype(np.float32),
        "dz": (true[..., 2] - x[..., 2]).astype(np.float32),
        "ref_len": np.broadcast_to(sup["ref_len"] / sup["scale"], (n, len(sup["ref_len"]))).astype(np.float32),
        "up": np.broadcast_to(sup["up"], (n, 3)).astype(np.float32),
        "floor": ((sup["floor"] - root @ sup["up"]) / sup["scale"]).astype(np.float32),
        "contact": contact.astype(bool),
        "scale": np.full(n, sup["scale"], dtype=np.float32),
    }


class WindowStream(IterableDataset):
    """Batches of windows from shard files; each DataLoader worker streams its own shards."""

    def __init__(
        self,
        paths: list[str],
        index: MarkerIndex,
        window: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        stride: int = 1,
        buffer_windows: int = 16384,
        max_windows: int | None = None,
        lowpass_hz: float | None = None,
        keep: list[float] | None = None,
    ):
        """``keep``: per path, the share of its windows drawn each epoch (a source's weight
        relative to the heaviest source); 1 draws every window and uses no random numbers."""
        self.keep = dict(zip(paths, keep)) if keep is not None else {}
        paths = [p for p in paths if self.keep.get(p, 1.0) > 0]
        self.paths, self.index, self.window, self.batch_size = list(paths), index, window, batch_size
        self.shuffle, self.seed, self.stride, self.buffer_windows, self.max_windows = (
            shuffle,
            seed,
            stride,
            buffer_windows,
            max_windows,
        )
        self.lowpass_hz = lowpass_hz
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        info = get_worker_info()
        wid, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, wid])
        paths = self.paths[wid::workers]
        if self.shuffle:
            paths = [paths[i] for i in rng.permutation(len(paths))]
        limit = None if self.max_windows is None else -(-self.max_windows // workers)
        buffer: list[dict] = []
        buffered = produced = 0
        for path in paths:
            clips, _ = read_shard_clips(path)  # the trainer checks the marker list once
            for clip in clips:
                if clip.observed.shape[0] < self.window:
                    continue
                part = clip_training_windows(
                    clip,
                    self.index,
                    self.window,
                    self.stride,
                    self.lowpass_hz,
                    short_share=SHORT_CONTEXT_SHARE if self.shuffle else 0.0,
                    rng=rng,
                )
                keep = self.keep.get(path, 1.0)
                if keep < 1.0:
                    take = rng.random(len(part["x"])) < keep
                    part = {k: v[take] for k, v in part.items()}
                buffer.append(part)
                buffered += len(part["x"])
            if buffered >= self.buffer_windows:
                for batch in self._drain(buffer, rng, keep_tail=True):
                    yield batch
                    produced += len(batch["x"])
                    if limit is not None and produced >= limit:
                        return
                buffered = sum(len(b["x"]) for b in buffer)
        for batch in self._drain(buffer, rng, keep_tail=False):
            yield batch
            produced += len(batch["x"])
            if limit is not None and produced >= limit:
                return

    def _drain(self, buffer: list[dict], rng: np.random.Generator, keep_tail: bool):
        merged = {k: np.concatenate([b[k] for b in buffer]) for k in buffer[0]} if buffer else {}
        buffer.clear()
        if not merged:
            return
        n = len(merged["x"])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        full = (n // self.batch_size) * self.batch_size
        for start in range(0, full if keep_tail else n, self.batch_size):
            take = order[start : start + self.batch_size]
            yield {k: torch.from_numpy(np.ascontiguousarray(v[take])) for k, v in merged.items()}
        if keep_tail and full < n:
            buffer.append({k: v[order[full:]] for k, v in merged.items()})


def count_windows(manifest: dict, split: str, stride: int, keep: dict[str, float] | None = None) -> int:
    """Windows of a split per epoch; ``keep``: path → share drawn (default all)."""
    keep = keep or {}
    return round(
        sum(-(-e["rows"] // stride) * keep.get(e["path"], 1.0) for e in manifest["shards"] if e["split"] == split)
    )


def source_keep(manifest: dict, weights: dict[str, float] | None) -> dict[str, float]:
    """Path → share of its windows drawn per epoch: its source's weight over the largest
    weight (a source without one weighs 1). Unknown source names are an error."""
    if not weights:
        return {}
    sources = {e.get("source", "?") for e in manifest["shards"]}
    unknown = sorted(set(weights) - sources)
    if unknown:
        raise ValueError(f"source weights name {unknown}, which the shard set does not hold (it has {sorted(sources)})")
    top = max(weights.get(s, 1.0) for s in sources)
    if top <= 0:
        raise ValueError("every source weight is 0: nothing to train on")
    return {e["path"]: weights.get(e.get("source", "?"), 1.0) / top for e in manifest["shards"]}
