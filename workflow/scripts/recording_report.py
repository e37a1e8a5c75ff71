import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.evaluation.recording_report import evaluate_recording
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
evaluate_recording(
    snakemake.input.refined,
    snakemake.input.markerset,
    snakemake.output.json,
    snakemake.output.html,
    snakemake.input.frame,
    name=snakemake.wildcards.video,
    savgol_window_s=snakemake.params.savgol_window_s,
    reference_parquet=snakemake.input.get("reference"),
    angles_dir=snakemake.input.get("angles"),
)
