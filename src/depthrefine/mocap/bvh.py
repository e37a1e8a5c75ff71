"""BVH reading: hierarchy (any channel order, end sites) and the motion block as one array.

The motion block is parsed by ``numpy.loadtxt`` in one call (its C tokenizer reads the
2 MB ``01_01.bvh`` in ~14 ms here, vs ~30 ms for ``str.split`` + ``float``), so no
Python loop runs per frame. ``bench/bench_parse.py`` compares against bvhio and pybvh.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthrefine.errors import DataError

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
END_SITE_SUFFIX = "_End"


@dataclass(frozen=True)
class Skeleton:
    """A joint tree; parents precede children. End sites are joints without channels."""

    names: tuple[str, ...]
    parents: np.ndarray  # (J,) int, -1 for the root
    offsets: np.ndarray  # (J, 3) rest offsets from the parent, file units
    channels: tuple[tuple[str, ...], ...]  # per joint, in file order

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"joint {name!r} not in skeleton ({', '.join(self.names)})") from None

    def rest_positions(self) -> np.ndarray:
        """Global joint positions of the rest pose (all rotations zero), file units."""
        pos = np.zeros((len(self.names), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos


@dataclass(frozen=True)
class BvhMotion:
    path: str
    skeleton: Skeleton
    frame_time_s: float
    values: np.ndarray  # (F, C) channel values in file order; degrees and file units

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time_s

    @property
    def num_frames(self) -> int:
        return self.values.shape[0]


class _Tokens:
    """Whitespace tokens of the HIERARCHY block with their 1-based line numbers."""

    def __init__(self, path: str, lines: list[str]):
        self.path = path
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.pos = 0

    def next(self, expected: str = "a token") -> tuple[str, int]:
        if self.pos >= len(self.items):
            last = self.items[-1][1] if self.items else 1
            raise DataError(self.path, f"file ends inside HIERARCHY; expected {expected}", line=last)
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok != word:
            raise DataError(self.path, f"expected {word!r}, found {tok!r}", line=line)
        return line

    def number(self) -> float:
        tok, line = self.next("a number")
        try:
            value = float(tok)
        except ValueError:
            raise DataError(self.path, f"expected a number, found {tok!r}", line=line) from None
        if not np.isfinite(value):
            raise DataError(self.path, f"non-finite OFFSET value {tok!r}", line=line)
        return value


def _parse_hierarchy(path: str, lines: list[str]) -> Skeleton:
    toks = _Tokens(path, lines)
    toks.expect("HIERARCHY")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[tuple[float, float, float]] = []
    channels: list[tuple[str, ...]] = []

    def joint(name: str, parent: int, end_site: bool) -> None:
        toks.expect("{")
        toks.expect("OFFSET")
        offset = (toks.number(), toks.number(), toks.number())
        index = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append(offset)
        chans: tuple[str, ...] = ()
        if not end_site:
            tok, line = toks.next("CHANNELS")
            if tok != "CHANNELS":
                raise DataError(path, f"expected CHANNELS for joint {name!r}, found {tok!r}", line=line)
            count_tok, line = toks.next("a channel count")
            if not count_tok.isdigit():
                raise DataError(path, f"expected a channel count, found {count_tok!r}", line=line)
            chans = tuple(toks.next("a channel name")[0] for _ in range(int(count_tok)))
            for c in chans:
                if c not in POSITION_CHANNELS + ROTATION_CHANNELS:
                    raise DataError(path, f"unknown channel {c!r} for joint {name!r}", line=line)
        channels.append(chans)
        while True:
            tok, line = toks.next("JOINT, End Site or '}'")
            if tok == "}":
                return
            if end_site:
                raise DataError(path, f"End Site of {names[parent]!r} may hold only OFFSET", line=line)
            if tok == "JOINT":
                joint(toks.next("a joint name")[0], index, end_site=False)
            elif tok == "End":
                toks.expect("Site")
                joint(name + END_SITE_SUFFIX, index, end_site=True)
            else:
                raise DataError(path, f"expected JOINT, End Site or '}}', found {tok!r}", line=line)

    toks.expect("ROOT")
    joint(toks.next("the root name")[0], -1, end_site=False)
    if toks.pos != len(toks.items):
        tok, line = toks.items[toks.pos]
        raise DataError(path, f"unexpected {tok!r} after the root joint closed", line=line)
    if len(set(names)) != len(names):
        raise DataError(path, "joint names are not unique")
    return Skeleton(tuple(names), np.array(parents), np.array(offsets, dtype=np.float64), tuple(channels))


def _find_line(text: str, word: str) -> int | None:
    """Offset of the first line that is exactly ``word`` (surrounding blanks allowed)."""
    pos = 0
    while True:
        pos = text.find(word, pos)
        if pos < 0:
            return None
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if text[start:end].strip() == word:
            return start
        pos += len(word)


def _header_value(path: str, line_text: str, line_no: int, key: str) -> str:
    if not line_text.strip().startswith(key):
        raise DataError(path, f"expected '{key} ...', found {line_text.strip()[:40]!r}", line=line_no)
    return line_text.split(":", 1)[1].strip()


def read_bvh(path: str | Path) -> BvhMotion:
    """Read a BVH file; raises DataError naming the file and line for malformed input."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise DataError(path, "not a text file; expected a BVH file starting with HIERARCHY") from None
    if not text.lstrip().startswith("HIERARCHY"):
        raise DataError(path, "not a BVH file: expected it to start with HIERARCHY", line=1)
    # Split off only the few header lines; the motion block stays one string for loadtxt.
    motion_pos = _find_line(text, "MOTION")
    if motion_pos is None:
        raise DataError(path, "no MOTION section (truncated file?)", line=text.count("\n") + 1)
    head_lines = text[:motion_pos].splitlines()
    motion_at = len(head_lines)  # 0-based line index of MOTION
    skeleton = _parse_hierarchy(path, head_lines)
    after = text[motion_pos:].split("\n", 3)
    if len(after) < 3:
        raise DataError(path, "MOTION section lacks 'Frames:' and 'Frame Time:'", line=motion_at + 1)
    frames_text = _header_value(path, after[1], motion_at + 2, "Frames:")
    time_text = _header_value(path, after[2], motion_at + 3, "Frame Time:")
    try:
        declared = int(frames_text)
        frame_time = float(time_text)
    except ValueError:
        raise DataError(path, "'Frames:' must be an integer and 'Frame Time:' a number", line=motion_at + 2) from None
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise DataError(path, f"'Frame Time:' must be positive, found {time_text!r}", line=motion_at + 3)
    first_row_line = motion_at + 4  # 1-based line of frame 0
    body = after[3] if len(after) > 3 else ""
    expected = skeleton.num_channels
    if declared <= 0 or not body.strip():
        raise DataError(
            path, f"zero frames of motion (declares {declared}); expected at least one", line=first_row_line
        )
    try:
        values = np.loadtxt(io.StringIO(body), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise _row_error(path, body, expected, first_row_line, exc) from None
    if values.shape[1] != expected:
        raise DataError(
            path,
            f"{values.shape[1]} values per frame, but the hierarchy declares {expected} channels",
            line=first_row_line,
            frame=0,
        )
    if values.shape[0] != declared:
        raise DataError(
            path,
            f"declares {declared} frames but holds {values.shape[0]} (truncated file?)",
            line=first_row_line + values.shape[0] - 1,
        )
    bad = ~np.isfinite(values)
    if bad.any():
        frame, channel = np.argwhere(bad)[0]
        raise DataError(
            path,
            f"non-finite value in channel {channel} ({_channel_label(skeleton, channel)}); expected finite numbers",
            line=first_row_line + int(frame),
            frame=int(frame),
        )
    return BvhMotion(path, skeleton, frame_time, values)


def _row_error(path: str, body: str, expected: int, first_line: int, exc: Exception) -> DataError:
    """Locate the first motion row whose value count differs from the hierarchy's channels."""
    for offset, row in enumerate(body.splitlines()):
        tokens = row.split()
        if not tokens:
            continue
        if len(tokens) != expected:
            return DataError(
                path,
                f"{len(tokens)} values in this frame, but the hierarchy declares {expected} channels (truncated file?)",
                line=first_line + offset,
                frame=offset,
            )
        try:
            [float(t) for t in tokens]
        except ValueError:
            return DataError(path, "a motion value is not a number", line=first_line + offset, frame=offset)
    return DataError(path, f"cannot parse the motion block: {exc}", line=first_line)


def _channel_label(skeleton: Skeleton, channel: int) -> str:
    k = 0
    for name, chans in zip(skeleton.names, skeleton.channels):
        if channel < k + len(chans):
            return f"{name}.{chans[channel - k]}"
        k += len(chans)
    return "?"
