import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.markers.batch import shard_batch_stage

setup_logging(snakemake.log[0])
p = snakemake.params
shard_batch_stage(
    p.trials,
    snakemake.output[0],
    markerset_path=p.markerset,
    fps=p.fps,
    kinematics=p.kinematics,
    corruption=p.corruption,
    seed=p.seed,
    row_group_frames=p.row_group_frames,
    on_bad_file=p.on_bad_file,
    source=snakemake.wildcards.source,
)
