import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.markers.stages import markers_stage

setup_logging(snakemake.log[0])
markers_stage(snakemake.input.joints, snakemake.output[0], markerset_path=snakemake.params.markerset)
