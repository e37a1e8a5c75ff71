"""Which recordings the workflow can evaluate, and what they need (used by the Snakefile)."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.parquet as pq

from depthrefine.capture.recording import marker_columns
from depthrefine.errors import DataError
from depthrefine.io import atomic_path
from depthrefine.markers.markersets import load_markerset

log = logging.getLogger(__name__)


def find_recordings(videos_dir: str, markers_dir: str, video_suffixes, marker_suffixes, reserved=()) -> dict[str, str]:
    """Recording name (file stem) → path, over both folders; a name given twice is an error."""
    found: dict[str, str] = {}
    for folder, suffixes in ((videos_dir, video_suffixes), (markers_dir, marker_suffixes)):
        root = Path(folder)
        if not root.is_dir():
            continue
        for path in sorted(root.iterdir()):
            if not path.is_file() or path.suffix.lower() not in suffixes or path.name.startswith("."):
                continue
            if path.stem in found:
                raise ValueError(
                    f"recording name {path.stem!r} is given twice ({found[path.stem]} and {path}); rename one"
                )
            if path.stem in reserved:
                raise ValueError(
                    f"{path}: the name {path.stem!r} is reserved for results/eval/{path.stem}.html; rename it"
                )
            found[path.stem] = str(path)
    return found


def marker_file_markerset(path: str, markersets: dict[str, str]) -> str:
    """The configured marker set whose markers a shard-schema Parquet file carries (by name or alias)."""
    try:
        meta = pq.read_schema(path).metadata or {}
        names = json.loads(meta[b"markers"])
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(
            f"{path}: not a marker Parquet file in the shard schema (no 'markers' metadata): {exc}"
        ) from None
    for name, set_path in markersets.items():
        try:
            marker_columns(names, load_markerset(set_path), path)
        except DataError:
            continue
        return name
    raise ValueError(
        f"{path}: marker set mismatch: its {len(names)} markers match none of the configured marker sets "
        f"({', '.join(f'{n} ({p})' for n, p in markersets.items())})"
    )


def pose_model_target(pose_model: str) -> str:
    """The local file the pose model is read from: the path itself, or resources/models/<name> for a URL."""
    scheme = urlparse(pose_model).scheme
    if scheme in ("http", "https"):
        return f"resources/models/{Path(urlparse(pose_model).path).name}"
    return pose_model[len("file://") :] if scheme == "file" else pose_model


def download(url: str, out: str) -> None:
    if urlparse(url).scheme not in ("http", "https"):
        raise FileNotFoundError(f"pose model {url} not found (config pose_model: a local .task file or an http(s) URL)")
    log.info("downloading %s", url)
    with urllib.request.urlopen(url, timeout=60) as response, atomic_path(out) as tmp:
        tmp.write_bytes(response.read())
    size = Path(out).stat().st_size
    if size < 1_000_000:
        Path(out).unlink()
        raise RuntimeError(f"{url}: downloaded only {size} bytes; not a pose model")
    log.info("wrote %s (%.1f MB)", out, size / 1e6)
