"""``depthrefine-refine``: refine the depth of a marker file (TRC or shard-schema Parquet).

depthrefine-refine walk.trc walk_refined.trc --model results/model/opencap/best.pt
depthrefine-refine clip.parquet clip_refined.parquet --model results/model/opencap/best.pt --device cuda
depthrefine-refine walk.trc walk_refined.trc --model results/model/blazepose/best.pt --joint-angles --height 1.78
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from depthrefine.capture.recording import columns_of, from_camera, parse_axes, refine_with_gaps, to_camera

log = logging.getLogger("depthrefine.model.refine")


def _label(loaded) -> str:
    return f"the model's marker set {loaded.markerset!r} ({loaded.path})"


def refine_trc(
    src: Path, dst: Path, loaded, axes: str, gap_fill_s: float, stride: int | None = None
) -> tuple[np.ndarray, float]:
    """The model's markers (by name or alias) refined on the file's own frames and rate; every
    other column, marker and header line is written back unchanged. Returns the refined
    markers (F, M, 3) in the camera frame, in the model's marker order, and the rate."""
    from depthrefine.capture.trc import UNIT_TO_M, read_trc, write_trc

    trc = read_trc(src)
    cols = columns_of(trc.markers, loaded.markers, loaded.aliases, str(src), _label(loaded))
    order, signs = parse_axes(axes)
    observed = to_camera(trc.xyz_m[:, cols], order, signs)
    refined, _ = refine_with_gaps(
        loaded, observed, trc.data_rate, gap_fill_s=gap_fill_s, source=str(src), stride=stride
    )
    out = trc.xyz.copy()
    out[:, cols] = from_camera(refined, order, signs) / UNIT_TO_M[trc.units]
    trc.xyz = out
    write_trc(trc, dst)
    return refined, trc.data_rate


def write_joint_angles(refined: np.ndarray, names: list[str], fps: float, dst: Path, markerset: Path, args) -> None:
    """OpenSim scaling + IK of the refined markers (docs/angles.md): next to dst, <stem>.mot,
    <stem>.osim (scaled model), <stem>_opensim.trc (the markers in the levelled OpenSim frame),
    <stem>_ik_marker_errors.sto, and OpenSim's messages in <stem>_opensim.log."""
    from depthrefine.angles.stages import capture_angles, frame_for_markers, opensim_columns
    from depthrefine.markers.markersets import load_markerset

    ms = load_markerset(markerset)
    cols, os_names = opensim_columns(ms, names)
    frame = frame_for_markers(refined, ms, names)
    stem = dst.with_suffix("")
    log_path = stem.with_name(stem.name + "_opensim.log")
    log_path.write_text("")
    summary = capture_angles(
        frame.apply(refined[:, cols]),
        os_names,
        fps,
        stem,
        model=args.angles_model,
        height_m=args.height,
        mass_kg=args.mass,
        log_path=log_path,
        trc=stem.with_name(stem.name + "_opensim.trc"),
    )
    log.info(
        "joint angles: %s (height %.2f m, %s; IK marker error %.1f mm RMS)",
        stem.with_suffix(".mot"),
        summary["height_m"],
        summary["height_source"],
        summary["ik_marker_error_rms_mm"]["mean"],
    )


def refine_parquet(src: Path, dst: Path, loaded, gap_fill_s: float, stride: int | None = None) -> None:
    """Each clip of a shard-schema file refined at its own rate; ``refined_xyz`` has the file's
    marker columns, the model's markers refined and the others copied."""
    import json

    import pyarrow.parquet as pq

    from depthrefine.tables import column_xyz, fixed_list, write_parquet

    table = pq.read_table(src)
    try:
        markers = json.loads((table.schema.metadata or {})[b"markers"])
    except KeyError:
        raise ValueError(f"{src}: not a marker Parquet file in the shard schema (no 'markers' metadata)") from None
    cols = columns_of(markers, loaded.markers, loaded.aliases, str(src), _label(loaded))
    observed = column_xyz(table, "observed_xyz")
    clip_ids = table.column("clip_id").to_numpy(zero_copy_only=False)
    fps = table.column("fps").to_numpy()
    refined = observed.copy()
    for clip in dict.fromkeys(clip_ids):
        rows = np.flatnonzero(clip_ids == clip)
        clip_refined, _ = refine_with_gaps(
            loaded,
            observed[np.ix_(rows, cols)],
            float(fps[rows[0]]),
            gap_fill_s=gap_fill_s,
            source=f"{src} clip {clip}",
            stride=stride,
        )
        refined[np.ix_(rows, cols)] = clip_refined
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
    parser.add_argument(
        "--gap-fill-s",
        type=float,
        default=None,
        help="interior gaps up to this long (s) are interpolated, as in the workflow (default: config gap_fill_s)",
    )
    angles = parser.add_argument_group("joint angles (TRC input; OpenSim scaling + inverse kinematics)")
    angles.add_argument("--joint-angles", action="store_true", help="also write <output stem>.mot (docs/angles.md)")
    angles.add_argument("--height", type=float, default=None, help="subject height (m); default: from the clip")
    angles.add_argument("--mass", type=float, default=None, help="subject mass (kg); default: from the height")
    angles.add_argument("--angles-model", default="simple", choices=["simple", "muscles"], help="Pose2Sim's model")
    angles.add_argument(
        "--markerset",
        type=Path,
        default=None,
        help="the model's marker set file, for its OpenSim names (default: config/markersets/<its name>.yaml)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        from depthrefine.model.refine import load_model
        from depthrefine.settings import defaults

        gap_fill_s = defaults()["gap_fill_s"] if args.gap_fill_s is None else args.gap_fill_s
        if gap_fill_s < 0:
            raise ValueError(f"--gap-fill-s must not be negative, got {gap_fill_s}")
        for name, value in (("--height", args.height), ("--mass", args.mass)):
            if value is not None and not args.joint_angles:
                raise ValueError(f"{name} is for --joint-angles")
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        loaded = load_model(args.model, args.device)
        suffix = args.input.suffix.lower()
        if args.joint_angles and suffix != ".trc":
            raise ValueError("--joint-angles needs a .trc input")
        markerset = args.markerset or Path("config/markersets") / f"{loaded.markerset}.yaml"
        if args.joint_angles and not markerset.is_file():
            raise FileNotFoundError(f"marker set {markerset} not found; pass --markerset <the model's marker set>")
        if suffix == ".trc":
            refined, fps = refine_trc(args.input, args.output, loaded, args.axes, gap_fill_s, args.stride)
            log.info("wrote %s", args.output)
            if args.joint_angles:
                write_joint_angles(refined, loaded.markers, fps, args.output, markerset, args)
        elif suffix == ".parquet":
            refine_parquet(args.input, args.output, loaded, gap_fill_s, args.stride)
        else:
            raise ValueError(f"{args.input}: expected a .trc or .parquet file")
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"depthrefine-refine: error: {exc}", file=sys.stderr)
        return 2
    if suffix != ".trc":
        log.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
