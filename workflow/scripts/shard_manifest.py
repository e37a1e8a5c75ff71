from depthrefine.logs import setup_logging
from depthrefine.stages import shard_manifest

setup_logging(snakemake.log[0])
shard_manifest(
    list(snakemake.input),
    snakemake.output.manifest,
    shards_root="results/shards",
    splits=snakemake.params.splits,
    config=snakemake.params.config,
)
