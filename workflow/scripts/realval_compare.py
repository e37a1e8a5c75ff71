import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

import json

from depthrefine.evaluation.realval import score_refined
from depthrefine.io import atomic_write_text
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
scores = {
    Path(refined).stem: score_refined(refined, reference, snakemake.input.markerset)
    for refined, reference in zip(snakemake.input.refined, snakemake.input.reference)
}
atomic_write_text(snakemake.output[0], json.dumps(scores, indent=2, default=float) + "\n")
