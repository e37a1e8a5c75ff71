"""Multi-camera sessions: the subfolders of ``multiview_dir``, each with ≥ 2 synchronised
videos and one calibration file (``*.qca.txt`` or ``*.toml``), either side by side in the
folder or in Pose2Sim's project layout (``videos/`` and ``calibration/`` subfolders; its
``Config.toml``, a TOML file without camera tables, is not taken for a calibration).

Videos pair with the calibration's cameras by name where every video's stem is a camera
name (TOML files name their cameras); otherwise, in sorted order of the video names against
the calibration's camera order (Qualisys files name cameras by serial number).
"""

from __future__ import annotations

from pathlib import Path

from depthrefine.capture.pose import VIDEO_SUFFIXES
from depthrefine.errors import DataError

PAIR_SEPARATOR = "@"  # a camera × person recording is named {session}@{camera}@{person}


VIDEO_FOLDER, CALIBRATION_FOLDER = "videos", "calibration"  # Pose2Sim's project layout


def _files(folder: Path, sub: str, keep) -> list[Path]:
    """Files of ``folder`` and of its ``sub`` folder (Pose2Sim layout) that ``keep`` accepts."""
    places = [folder] + ([folder / sub] if (folder / sub).is_dir() else [])
    return sorted(p for place in places for p in place.iterdir() if p.is_file() and keep(p))


def _has_cameras(toml: Path) -> bool:
    """A TOML file with at least one camera table (Pose2Sim's Config.toml has none)."""
    import tomllib

    try:
        data = tomllib.loads(toml.read_text())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return True  # unreadable: let the reader say what is wrong with it
    return any(isinstance(t, dict) and "matrix" in t for t in data.values())


def session_files(folder: str | Path) -> tuple[Path, dict[str, Path]]:
    """(calibration file, camera name → video) of one session folder, or a DataError saying
    what is missing."""
    folder = Path(folder)
    calibrations = _files(folder, CALIBRATION_FOLDER, lambda p: p.name.lower().endswith((".qca.txt", ".toml")))
    if len(calibrations) > 1:
        calibrations = [p for p in calibrations if not p.name.lower().endswith(".toml") or _has_cameras(p)]
    videos = _files(folder, VIDEO_FOLDER, lambda p: p.suffix.lower() in VIDEO_SUFFIXES)
    if len(calibrations) != 1:
        found = ", ".join(str(p.relative_to(folder)) for p in calibrations) or "none"
        raise DataError(
            folder,
            f"a session needs exactly one calibration (.qca.txt or .toml, in the folder or its "
            f"{CALIBRATION_FOLDER}/); found {len(calibrations)}: {found}",
        )
    if len(videos) < 2:
        raise DataError(
            folder,
            f"a session needs at least 2 synchronised videos (here or in {VIDEO_FOLDER}/); found {len(videos)}",
        )
    bad = [p.stem for p in videos if PAIR_SEPARATOR in p.stem or "/" in p.stem]
    if bad:
        raise DataError(folder, f"video names may not contain {PAIR_SEPARATOR!r}: {bad}")
    names = [p.stem for p in videos]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(folder, f"videos {twice} are both in the folder and in {VIDEO_FOLDER}/: keep one of each")
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
        if _files(sub, VIDEO_FOLDER, lambda p: p.suffix.lower() in VIDEO_SUFFIXES):
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
