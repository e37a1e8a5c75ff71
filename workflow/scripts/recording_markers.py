import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's package

from depthrefine.capture.pose import VIDEO_SUFFIXES
from depthrefine.capture.recording import markers_from_file, markers_from_video
from depthrefine.logs import setup_logging

setup_logging(snakemake.log[0])
inp, out, p = snakemake.input, snakemake.output, snakemake.params
if Path(inp.recording).suffix.lower() in VIDEO_SUFFIXES:
    markers_from_video(
        inp.recording,
        inp.pose_model,
        inp.markerset,
        out.parquet,
        out.trc,
        out.frame,
        fps=p.fps,
        gap_fill_s=p.gap_fill_s,
        max_people=p.max_people,
        video_focal=p.video_focal,
    )
else:
    markers_from_file(
        inp.recording, inp.markerset, out.parquet, out.trc, out.frame, fps=p.fps, gap_fill_s=p.gap_fill_s, axes=p.axes
    )
