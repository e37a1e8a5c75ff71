import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

import json

from depthrefine.evaluation.realval import realval_summary
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
realval_summary(
    list(snakemake.input.reports),
    [str(Path(d) / "qc.json") for d in snakemake.input.qc],
    snakemake.output.json,
    snakemake.output.html,
    compare={Path(p).stem: json.loads(Path(p).read_text()) for p in snakemake.input.compare},
    fit_pairs=list(snakemake.params.fit_pairs),
    synthetic=json.loads(Path(snakemake.input.synthetic).read_text()),
)
