import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.multiview.stages import pair_recording

setup_logging(snakemake.log[0])
w, out = snakemake.wildcards, snakemake.output
pair_recording(
    snakemake.input.reference,
    snakemake.input.poses,
    snakemake.input.markerset,
    out.parquet,
    out.trc,
    out.frame,
    out.reference,
    recording=f"{w.session}@{w.camera}@{w.person}",
    fps=snakemake.params.fps,
    gap_fill_s=snakemake.params.gap_fill_s,
    world_up=snakemake.params.world_up,
    floor_height_m=snakemake.params.floor_height_m,
)
