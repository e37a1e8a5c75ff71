import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.mocap.acquire import acquire

setup_logging(snakemake.log[0])
p = snakemake.params
acquire(
    p.source,
    p.files_dir,
    snakemake.output.manifest,
    include=p.include,
    exclude=p.exclude,
    kind=p.source_type,
    git_ref=p.git_ref,
    on_bad_file=p.on_bad_file,
    fps_range=p.fps_range,
)
