"""``depthrefine-refine``: refine the depth of a marker file (TRC or shard-schema Parquet).

depthrefine-refine walk.trc walk_refined.trc --model results/model/opencap/best.pt
depthrefine-refine clip.parquet clip_refined.parquet --model results/model/opencap/best.pt --device cuda
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from depthrefine.capture.recording import from_camera, parse_axes, to_camera

log = logging.getLogger("depthrefine.model.refine")


def refine_trc(src: Path, dst: Path, loaded, axes: str, stride: int | None = None) -> None:
    from depthrefine.capture.trc import read_trc, write_trc
    from depthrefine.model.refine import refine_sequence

    trc = read_trc(src)
    missing = [m for m in loaded.markers if m not in trc.markers]
    if missing:
        raise ValueError(f"{src}: markers {missing} of the model's marker set are missing from the file")
    cols = [trc.markers.index(m) for m in loaded.markers]
    order, signs = parse_axes(axes)
    observed = to_camera(trc.xyz_m[:, cols], order, signs)
    refined = refine_sequence(loaded, observed, fps=trc.data_rate, source=str(src), stride=stride)
    out = trc.xyz.copy()
    from depthrefine.capture.trc import UNIT_TO_M

    out[:, cols] = from_camera(refined, order, signs) / UNIT_TO_M[trc.units]
    trc.xyz = out
    write_trc(trc, dst)


def refine_parquet(src: Path, dst: Path, loaded, stride: int | None = None) -> None:
    import json

    import pyarrow.parquet as pq

    from depthrefine.model.refine import refine_sequence
    from depthrefine.tables import column_xyz, fixed_list, write_parquet

    table = pq.read_table(src)
    markers = json.loads(table.schema.metadata[b"markers"])
    if markers != loaded.markers:
        raise ValueError(
            f"{src}: its markers differ from the model's marker set ({len(markers)} vs {len(loaded.markers)})"
        )
    observed = column_xyz(table, "observed_xyz")
    clip_ids = table.column("clip_id").to_numpy(zero_copy_only=False)
    fps = table.column("fps").to_numpy()
    refined = observed.copy()
    for clip in dict.fromkeys(clip_ids):
        rows = np.flatnonzero(clip_ids == clip)
        refined[rows] = refine_sequence(
            loaded, observed[rows], fps=float(fps[rows[0]]), source=f"{src} clip {clip}", stride=stride
        )
    if "refined_xyz" in table.column_names:
        table = table.drop_columns(["refined_xyz"])
    write_parquet(table.append_column("refined_xyz", fixed_list(refined)), dst)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="depthrefine-refine", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help=".trc or .parquet (shard schema)")
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", required=True, type=Path, help="checkpoint, e.g. results/model/opencap/best.pt")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--stride",
        type=int,
        default=None,
        help="frames between windows; 1 = centre frame of every window (slowest); default (window+1)//2",
    )
    parser.add_argument(
        "--axes", default="x,y,z", help="TRC only: file axes giving camera x (right), y (down), z (depth)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        from depthrefine.model.refine import load_model

        loaded = load_model(args.model, args.device)
        suffix = args.input.suffix.lower()
        if suffix == ".trc":
            refine_trc(args.input, args.output, loaded, args.axes, args.stride)
        elif suffix == ".parquet":
            refine_parquet(args.input, args.output, loaded, args.stride)
        else:
            raise ValueError(f"{args.input}: expected a .trc or .parquet file")
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"depthrefine-refine: error: {exc}", file=sys.stderr)
        return 2
    log.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
