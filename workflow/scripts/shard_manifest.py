import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.markers.stages import shard_manifest

setup_logging(snakemake.log[0])
shard_manifest(
    list(snakemake.input.batches),
    snakemake.output.manifest,
    shards_root=snakemake.params.shards_root,
    splits=snakemake.params.splits,
    config=snakemake.params.config,
)
