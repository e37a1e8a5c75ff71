import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.markers.stages import corruption_stage

setup_logging(snakemake.log[0])
p = snakemake.params
corruption_stage(
    snakemake.input[0],
    snakemake.output[0],
    trial=snakemake.wildcards.trial,
    split=snakemake.wildcards.split,
    seed=p.seed,
    corruption=p.corruption,
    row_group_frames=p.row_group_frames,
)
