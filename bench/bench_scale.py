"""Scale of the data stages: DAG time, job and submission counts, throughput, extrapolation
to the full CMU release (2,548 trials), and the memory of loading a shard set.

    python bench/bench_scale.py [--sizes 100 1000 2548] [--real 200] [--work /tmp/scale]

A fake mirror of N trials (symlinks to the shared BVH files, named like CMU trials in 143
subjects) goes through the real workflow: the acquisition once (not timed), then
`snakemake -n train` on one core is timed. A real `snakemake shards` on the ``--real``
trials gives the data stages' CPU cost per trial (from Snakemake's benchmark files) and the
peak RSS of loading that shard set (manifest, window count, one epoch's stream set-up).
Baseline: the per-trial jobs before batching, measured in the scale issue on this machine
kind (238 s DAG, 7,644 jobs and sbatch submissions, ~50 min on 12 cores for 2,548 trials).
The last line is ``dag_s_2548=<s> jobs_2548=<n> submissions_2548=<n> full_cmu_12core_min=<min>``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FULL_CMU = 2548
BASELINE = {"dag_s": 238.0, "jobs": 3 * FULL_CMU, "submissions": 3 * FULL_CMU, "full_cmu_12core_min": 50.0}


def fake_mirror(root: Path, n: int, data: Path) -> None:
    sources = sorted(glob.glob(str(data / "cmu-bvh" / "**" / "*.bvh"), recursive=True))
    for i in range(n):
        subject, take = divmod(i, 18)  # CMU: 143 subjects with ~18 trials each
        path = root / f"{subject + 1:02d}_{take + 1:02d}.bvh"
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(sources[i % len(sources)], path)


def workdir(root: Path, mirror: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "envs", "src", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    (root / "scale.yaml").write_text(
        yaml.safe_dump({"sources": {"cmu": {"source": str(mirror), "include": ["**/*.bvh"]}}})
    )
    return root


def snakemake(wd: Path, cores: int, *args: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--nocolor", *args]
    cmd += ["--configfile", "config/config.yaml", "scale.yaml"]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=wd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started, result.stdout + result.stderr


def job_counts(text: str) -> dict[str, int]:
    table = text.split("Job stats:", 1)[1]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


def shard_set_rss_mb(manifest_path: Path) -> float:
    """Peak RSS of a fresh process that loads the manifest, counts the windows and sets up one
    epoch's training stream over every shard (as the trainer does before its first batch)."""
    code = (
        "import json, resource, sys\n"
        "from depthrefine.markers.index import MarkerIndex\n"
        "from depthrefine.markers.markersets import load_markerset\n"
        "from depthrefine.model.dataset import WindowStream, count_windows\n"
        "m = json.load(open(sys.argv[1]))\n"
        "index = MarkerIndex.from_markerset(load_markerset(sys.argv[2]), m['markers'])\n"
        "count_windows(m, 'train', 4)\n"
        "paths = [e['path'] for e in m['shards'] if e['split'] == 'train']\n"
        "stream = WindowStream(paths, index, 11, 256, shuffle=True, seed=0, stride=4, lowpass_hz=6.0)\n"
        "for i, batch in zip(range(50), stream): pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(manifest_path), str(REPO / "config/markersets/opencap.yaml")],
        cwd=manifest_path.parents[3],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, FULL_CMU])
    parser.add_argument("--real", type=int, default=200, help="trials of the real run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/depthrefine-scale"))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    rows = {}
    for n in sorted(set(args.sizes) | {args.real}):
        mirror = args.work / f"mirror{n}"
        fake_mirror(mirror, n, args.data)
        wd = workdir(args.work / f"wf{n}", mirror)
        snakemake(wd, 2, "resources/mocap/cmu/manifest.tsv")  # the acquisition: parses every file once
        dag_s, text = snakemake(wd, 1, "-n", "train")
        counts = job_counts(text)
        data_jobs = 1 + counts.get("shard_batch", 0)  # the acquisition (already run here) + the batches
        rows[n] = {"dag_s": dag_s, "jobs": counts.get("total", 0), "submissions": data_jobs, "wd": wd}
        print(
            f"N={n:5d}: dry run {dag_s:6.1f} s, {rows[n]['jobs']} jobs, {data_jobs} data-stage submissions", flush=True
        )

    wd = rows[args.real]["wd"]
    wall, _ = snakemake(wd, 2, "shards")
    cpu = 0.0
    for tsv in glob.glob(str(wd / "benchmarks/shard_batch/*/*/*.tsv")):
        header, values = Path(tsv).read_text().splitlines()[:2]
        cpu += float(dict(zip(header.split("\t"), values.split("\t")))["cpu_time"])
    per_trial_s = cpu / args.real
    full_min = FULL_CMU * per_trial_s / 12 / 60 + rows.get(FULL_CMU, rows[max(rows)])["dag_s"] / 60
    rss = shard_set_rss_mb(wd / "results/shards/opencap/manifest.json")
    print(f"\nreal run: {args.real} trials to shards in {wall:.1f} s on 2 cores; {per_trial_s:.3f} CPU-s per trial")
    print(f"peak RSS loading the {args.real}-trial shard set and starting an epoch: {rss:.0f} MB")

    big = rows.get(FULL_CMU, rows[max(rows)])
    ours = {
        "dag_s": big["dag_s"],
        "jobs": big["jobs"],
        "submissions": big["submissions"],
        "full_cmu_12core_min": full_min,
    }
    print(f"\n{'(N = 2548)':28s}{'per-trial jobs (baseline)':>28s}{'batched':>12s}{'ratio':>9s}")
    for key, label in (
        ("dag_s", "snakemake -n train (s)"),
        ("jobs", "jobs"),
        ("submissions", "data-stage submissions"),
        ("full_cmu_12core_min", "full CMU on 12 cores (min)"),
    ):
        print(f"{label:28s}{BASELINE[key]:28.1f}{ours[key]:12.1f}{BASELINE[key] / max(ours[key], 1e-9):8.1f}x")
    print(json.dumps({"sizes": {n: {k: v for k, v in r.items() if k != "wd"} for n, r in rows.items()}}))
    print(
        f"dag_s_2548={ours['dag_s']:.1f} jobs_2548={ours['jobs']} submissions_2548={ours['submissions']} "
        f"full_cmu_12core_min={full_min:.1f}"
    )


if __name__ == "__main__":
    main()
