import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.logs import setup_logging
from depthrefine.mocap.acquire import acquire

setup_logging(snakemake.log[0])
s = snakemake.params.settings
acquire(
    s["source"],
    snakemake.params.files_dir,
    snakemake.output.manifest,
    include=s["include"],
    exclude=s["exclude"],
    kind=s["source_type"],
    git_ref=s["git_ref"],
    on_bad_file=s["on_bad_file"],
    fps_range=s["fps_range"],
    fmt=s["format"],
    asf=s["asf"],
    trial_prefix=s["trial_prefix"],
    name=snakemake.wildcards.source,
)
