import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.capture.sources import download
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
download(snakemake.params.url, snakemake.output[0])
