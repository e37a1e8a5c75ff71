import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.multiview.stages import session_reference

setup_logging(snakemake.log[0])
session_reference(
    snakemake.input.calibration,
    list(snakemake.input.videos),
    list(snakemake.input.poses),
    snakemake.input.markerset,
    dict(snakemake.params.settings),
    snakemake.output[0],
    session=snakemake.wildcards.session,
)
