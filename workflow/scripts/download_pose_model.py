import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.recordings import download

setup_logging(snakemake.log[0])
download(snakemake.params.url, snakemake.output[0])
