import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

import torch

from depthrefine.capture.recording import refine_markers
from depthrefine.logs import setup_logging
from depthrefine.settings import camera_height_for, camera_up_for, subject_for

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
refine_markers(
    snakemake.input.markers,
    snakemake.input.model,
    snakemake.output.parquet,
    snakemake.output.trc,
    device=snakemake.params.device,
    height_m=subject_for(snakemake.wildcards.video, snakemake.params.subjects).get("height_m"),
    camera_up=camera_up_for(snakemake.wildcards.video, snakemake.params.cameras),
    camera_height_m=camera_height_for(snakemake.wildcards.video, snakemake.params.cameras),
)
