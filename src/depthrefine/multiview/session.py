"""Multi-camera sessions: the subfolders of ``multiview_dir``, each with ≥ 2 synchronised
videos and one calibration file (``*.qca.txt`` or ``*.toml``).

Videos pair with the calibration's cameras by name where every video's stem is a camera
name (TOML files name their cameras); otherwise, in sorted order of the video names against
the calibration's camera order (Qualisys files name cameras by serial number).
"""

from __future__ import annotations

from pathlib import Path

from depthrefine.capture.pose import VIDEO_SUFFIXES
from depthrefine.errors import DataError

PAIR_SEPARATOR = "@"  # a camera × person recording is named {session}@{camera}@{person}


def session_files(folder: str | Path) -> tuple[Path, dict[str, Path]]:
    """(calibration file, camera name → video) of one session folder, or a DataError saying
    what is missing."""
    folder = Path(folder)
    calibrations = sorted(p for p in folder.iterdir() if p.name.lower().endswith((".qca.txt", ".toml")))
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if len(calibrations) != 1:
        raise DataError(
            folder, f"a session needs exactly one calibration (.qca.txt or .toml); found {len(calibrations)}"
        )
    if len(videos) < 2:
        raise DataError(folder, f"a session needs at least 2 synchronised videos; found {len(videos)}")
    bad = [p.stem for p in videos if PAIR_SEPARATOR in p.stem or "/" in p.stem]
    if bad:
        raise DataError(folder, f"video names may not contain {PAIR_SEPARATOR!r}: {bad}")
    return calibrations[0], {p.stem: p for p in videos}


def find_sessions(multiview_dir: str | Path) -> dict[str, tuple[Path, dict[str, Path]]]:
    """Session name → (calibration, camera → video) for every subfolder of ``multiview_dir``
    that holds videos; a missing folder is no sessions."""
    root = Path(multiview_dir)
    if not root.is_dir():
        return {}
    out = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if PAIR_SEPARATOR in sub.name:
            raise DataError(sub, f"session names may not contain {PAIR_SEPARATOR!r}")
        if any(p.suffix.lower() in VIDEO_SUFFIXES for p in sub.iterdir()):
            out[sub.name] = session_files(sub)
    return out


def cameras_for_videos(cameras: list, video_names: list[str], source: str | Path) -> list:
    """The calibration's cameras in the order of ``video_names`` (module doc), renamed to them."""
    from dataclasses import replace

    by_name = {c.name: c for c in cameras}
    if all(n in by_name for n in video_names):
        return [by_name[n] for n in video_names]
    if len(cameras) != len(video_names):
        raise DataError(
            source,
            f"{len(video_names)} videos ({', '.join(video_names)}) but {len(cameras)} calibrated cameras "
            f"({', '.join(by_name)}), and the names do not match",
        )
    paired = dict(zip(sorted(video_names), cameras))
    return [
        replace(paired[n], name=n, meta={**paired[n].meta, "calibration_name": paired[n].name}) for n in video_names
    ]
