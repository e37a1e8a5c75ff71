import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

import json
import shutil

import torch

from depthrefine.io import atomic_path, atomic_write_text
from depthrefine.logs import setup_logging
from depthrefine.model.guard import parent_gone, stop_when_parent_dies
from depthrefine.model.train import train

setup_logging(snakemake.log[0])
stop_when_parent_dies()  # a killed snakemake must not leave an orphan trainer writing run/
torch.set_num_threads(max(1, snakemake.threads - snakemake.params.train["num_workers"]))
p = snakemake.params
summary = train(
    manifest_path=snakemake.input.manifest,
    markerset_path=p.markerset,
    model_cfg=p.model,
    train_cfg={**p.train, "seed": p.seed, "loss_weights": p.loss_weights},
    run_dir=p.run_dir,
    config_snapshot=snakemake.config,
    repo=str(Path(__file__).resolve().parents[2]),
    source_weights=p.source_weights,
)
if parent_gone():  # finished in the grace period: leave run/ to resume, no outputs to find incomplete
    sys.exit(1)
with atomic_path(snakemake.output.model) as tmp:
    shutil.copyfile(Path(p.run_dir) / "best.pt", tmp)
atomic_write_text(snakemake.output.metrics, json.dumps(summary, indent=2, default=str) + "\n")
