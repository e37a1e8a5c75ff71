import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.mocap.stages import kinematics_stage

setup_logging(snakemake.log[0])
p = snakemake.params
kinematics_stage(
    snakemake.input.bvh,
    snakemake.output[0],
    source=Path(snakemake.input.bvh).relative_to(p.files_dir).as_posix(),
    fps=p.fps,
    unit_m=p.unit_m,
    drop_first=p.drop_first_frame,
    min_frames=p.min_frames,
)
