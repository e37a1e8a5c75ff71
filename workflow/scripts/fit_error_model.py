import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.evaluation.error_model_report import fit_error_model
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
fit_error_model(
    list(snakemake.input.markers),
    list(snakemake.input.references),
    snakemake.input.markerset,
    fit_pairs=list(snakemake.params.fit_pairs),
    configured=dict(snakemake.params.configured),
    seed=int(snakemake.params.seed),
    out_yaml=snakemake.output.yaml,
    out_json=snakemake.output.json,
    out_html=snakemake.output.html,
    out_png=snakemake.output.png,
)
