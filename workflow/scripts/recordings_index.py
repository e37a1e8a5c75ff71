import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.evaluation.recording_report import render_index
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
render_index(list(snakemake.input), snakemake.output[0])
