import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.angles.stages import recording_joint_angles
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
recording_joint_angles(
    snakemake.input.refined,
    snakemake.input.markerset,
    snakemake.output[0],
    name=snakemake.wildcards.video,
    model=snakemake.params.model,
    subjects=snakemake.params.subjects,
    reference_parquet=snakemake.input.get("reference"),
    log_path=snakemake.log[0],
)
