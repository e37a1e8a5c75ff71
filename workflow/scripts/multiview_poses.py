import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.multiview.poses import camera_poses

setup_logging(snakemake.log[0])
camera_poses(
    snakemake.input.video,
    snakemake.input.pose_model,
    snakemake.output[0],
    max_people=snakemake.params.max_people,
    modes=list(snakemake.params.modes),
)
