"""TRC (OpenSim / OpenCap marker text format): read and write faithfully.

Kept as read: the header lines (path line, rate/units keys and values), marker names and
order, frame numbers and times, the units. Missing values (empty fields) read as NaN and
are written back empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthrefine.errors import DataError
from depthrefine.io import atomic_path

UNIT_TO_M = {"m": 1.0, "mm": 0.001, "cm": 0.01}


@dataclass
class Trc:
    markers: list[str]
    frames: np.ndarray  # (F,) frame numbers as in the file
    times: np.ndarray  # (F,) seconds
    xyz: np.ndarray  # (F, M, 3) in file units and axes
    units: str
    data_rate: float
    header: dict = field(default_factory=dict)  # the rate/units line as key → text
    path_line: str = ""

    @property
    def xyz_m(self) -> np.ndarray:
        return self.xyz * UNIT_TO_M[self.units]


def read_trc(path: str | Path) -> Trc:
    path = str(path)
    lines = Path(path).read_text().splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise DataError(path, "not a TRC file: expected 'PathFileType' on line 1", line=1)
    keys = lines[1].split("\t")
    values = lines[2].split("\t")
    header = dict(zip(keys, values))
    try:
        units = header["Units"].strip()
        rate = float(header["DataRate"])
        n_markers = int(header["NumMarkers"])
    except (KeyError, ValueError):
        raise DataError(path, "header needs DataRate, NumMarkers and Units", line=3) from None
    if units not in UNIT_TO_M:
        raise DataError(path, f"unknown Units {units!r}; expected one of {sorted(UNIT_TO_M)}", line=3)
    names = [n.strip() for n in lines[3].split("\t")[2:] if n.strip()]
    if len(names) != n_markers:
        raise DataError(path, f"{len(names)} marker names but NumMarkers is {n_markers}", line=4)
    rows = [(n + 1, line) for n, line in enumerate(lines[5:], start=5) if line.strip()]
    if not rows:
        raise DataError(path, "no frames", line=6)
    frames, times = np.empty(len(rows)), np.empty(len(rows))
    xyz = np.full((len(rows), n_markers, 3), np.nan)
    for i, (line_no, line) in enumerate(rows):
        fields = line.split("\t")
        if len(fields) > 2 + 3 * n_markers or len(fields) < 2:
            raise DataError(path, f"{len(fields)} fields, expected {2 + 3 * n_markers}", line=line_no)
        try:
            frames[i], times[i] = float(fields[0]), float(fields[1])
            vals = [float(v) if v.strip() else np.nan for v in fields[2:]]
        except ValueError:
            raise DataError(path, "a value is not a number", line=line_no) from None
        flat = xyz[i].reshape(-1)
        flat[: len(vals)] = vals
    return Trc(names, frames, times, xyz, units, rate, header, lines[0])


def _number(v: float, missing: str = "") -> str:
    return missing if not np.isfinite(v) else f"{v:.6f}".rstrip("0").rstrip(".") if v != 0 else "0"


def write_trc(trc: Trc, path: str | Path, missing: str = "") -> None:
    """missing: what a NaN is written as; OpenSim's reader needs "NaN" (it drops trailing empty fields)."""
    keys = [
        "DataRate",
        "CameraRate",
        "NumFrames",
        "NumMarkers",
        "Units",
        "OrigDataRate",
        "OrigDataStartFrame",
        "OrigNumFrames",
    ]
    header = {k: trc.header.get(k, "") for k in keys}
    header.update({k: v for k, v in trc.header.items() if k not in header})
    header["NumFrames"] = str(len(trc.frames))
    header["NumMarkers"] = str(len(trc.markers))
    header["Units"] = trc.units
    header.setdefault("DataRate", f"{trc.data_rate:g}")
    name = Path(path).name
    path_line = trc.path_line or f"PathFileType\t4\t(X/Y/Z)\t{name}"
    out = [path_line, "\t".join(header), "\t".join(header.values())]
    out.append("Frame#\tTime\t" + "\t".join(f"{m}\t\t" for m in trc.markers).rstrip("\t"))
    out.append("\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(trc.markers) + 1)))
    out.append("")
    for f, t, row in zip(trc.frames, trc.times, trc.xyz):
        out.append(
            "\t".join(
                [f"{int(f)}" if float(f).is_integer() else f"{f:g}", f"{t:.6f}".rstrip("0").rstrip(".") or "0"]
                + [_number(v, missing) for v in row.reshape(-1)]
            )
        )
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(out) + "\n")
