import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

import json
import shutil

import torch

from depthrefine.logs import setup_logging
from depthrefine.train import train

setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, snakemake.threads - snakemake.params.train["num_workers"]))
p = snakemake.params
summary = train(
    manifest_path=snakemake.input.manifest,
    markerset_path=p.markerset,
    model_cfg=p.model,
    train_cfg={**p.train, "seed": p.seed, "loss_weights": p.loss_weights},
    run_dir=p.run_dir,
    config_snapshot=snakemake.config,
    resume=p.train["resume"],
    repo=str(Path(__file__).resolve().parents[2]),
)
tmp = Path(snakemake.output.model).with_suffix(".pt.part")
shutil.copyfile(Path(p.run_dir) / "best.pt", tmp)
tmp.replace(snakemake.output.model)
Path(snakemake.output.metrics).write_text(json.dumps(summary, indent=2, default=str) + "\n")
