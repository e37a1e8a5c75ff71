from depthrefine.logs import setup_logging
from depthrefine.stages import markers_stage

setup_logging(snakemake.log[0])
markers_stage(snakemake.input.joints, snakemake.output[0], markerset_path=snakemake.params.markerset)
