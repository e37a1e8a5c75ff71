import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

import torch

from depthrefine.evaluation.heldout import evaluate_heldout
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
evaluate_heldout(
    snakemake.input.model,
    snakemake.input.manifest,
    snakemake.output.html,
    snakemake.output.json,
    snakemake.output.refined,
    device=snakemake.params.device,
    savgol_window_s=snakemake.params.savgol_window_s,
)
