"""BVH parse + forward kinematics against bvhio and pybvh, and corruption + shard throughput.

    pip install -e '.[bench]'
    python bench/bench_parse.py [--data ../shared/data] [--repeats 7]

Same files for every reader; times are the median of warm repeats (imports and first-call
set-up excluded for everyone). Joint positions are compared between readers so a fast wrong
answer cannot win. The last line is ``speedup_vs_pybvh=<x>`` for 01_01.bvh.
"""

from __future__ import annotations

import argparse
import glob
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import forward_kinematics

REPO = Path(__file__).resolve().parents[1]


def ours(path: str) -> tuple[list[str], np.ndarray]:
    motion = read_bvh(path)
    pos, _ = forward_kinematics(motion.skeleton, motion.values)
    return list(motion.skeleton.names), pos


def pybvh_positions(path: str) -> tuple[list[str], np.ndarray]:
    import pybvh

    bvh = pybvh.read_bvh_file(path, world_up="+y", warn_on_world_up_disagreement=False)
    return list(bvh.joint_names), bvh.joint_positions()


def bvhio_positions(path: str) -> tuple[list[str], np.ndarray]:
    import bvhio

    root = bvhio.readAsHierarchy(path)
    layout = root.layout()
    n = len(root.Keyframes)
    out = np.empty((n, len(layout), 3))
    for f in range(n):  # bvhio poses one frame at a time
        root.loadPose(f)
        out[f] = [tuple(j.PositionWorld) for j, _, _ in layout]
    return [j.Name for j, _, _ in layout], out


def bvhio_read_only(path: str) -> None:
    import bvhio

    bvhio.readAsHierarchy(path)


def timed(fn, paths: list[str], repeats: int) -> float:
    fn(paths[0])  # warm-up: imports, caches
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for p in paths:
            fn(p)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def max_disagreement_mm(a, b, unit_m: float = 0.056444) -> float:
    names_a, pos_a = a
    names_b, pos_b = b
    common = [n for n in names_b if n in names_a]
    ia = [names_a.index(n) for n in common]
    ib = [names_b.index(n) for n in common]
    n = min(len(pos_a), len(pos_b))
    return float(np.abs(pos_a[:n, ia] - pos_b[:n, ib]).max() * unit_m * 1000)


def corruption_throughput(path: str) -> tuple[float, int]:
    from depthrefine.markers.stages import corruption_stage, markers_stage
    from depthrefine.mocap.stages import kinematics_stage
    from depthrefine.settings import config_section

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        kinematics_stage(
            path, str(t / "j.parquet"), source="01_01.bvh", fps=60, unit_m=0.056444, drop_first="auto", min_frames=30
        )
        markers_stage(
            str(t / "j.parquet"), str(t / "m.parquet"), markerset_path=str(REPO / "config/markersets/opencap.yaml")
        )
        cfg = config_section("corruption", {"variants": 4})
        args = dict(trial="01_01", split="train", seed=1, corruption=cfg)
        corruption_stage(str(t / "m.parquet"), str(t / "s.parquet"), **args)  # warm-up
        start = time.perf_counter()
        corruption_stage(str(t / "m.parquet"), str(t / "s.parquet"), **args)
        seconds = time.perf_counter() - start
        import pyarrow.parquet as pq

        return seconds, pq.ParquetFile(t / "s.parquet").metadata.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    single = [str(Path(args.data) / "cmu-bvh" / "01_01.bvh")]
    actions = sorted(glob.glob(str(Path(args.data) / "cmu-bvh" / "actions" / "*.bvh")))
    frames = sum(read_bvh(p).num_frames for p in actions)

    print("agreement of joint positions with depthrefine (max |Δ| over all frames and joints):")
    ref = ours(single[0])
    print(f"  pybvh  01_01.bvh: {max_disagreement_mm(ref, pybvh_positions(single[0])):.4f} mm")
    print(f"  bvhio  01_01.bvh: {max_disagreement_mm(ref, bvhio_positions(single[0])):.4f} mm")
    worst = max(max_disagreement_mm(ours(p), pybvh_positions(p)) for p in actions)
    print(f"  pybvh  {len(actions)} action files: {worst:.4f} mm")

    rows = []
    t_ours = timed(ours, single, args.repeats)
    t_pybvh = timed(pybvh_positions, single, args.repeats)
    t_bvhio_read = timed(bvhio_read_only, single, max(1, args.repeats // 3))
    t_bvhio = timed(bvhio_positions, single, 1)
    rows.append(("01_01.bvh (2,752 frames)", t_ours, t_pybvh, t_bvhio_read, t_bvhio))
    a_ours = timed(ours, actions, max(1, args.repeats // 2))
    a_pybvh = timed(pybvh_positions, actions, max(1, args.repeats // 2))
    a_bvhio_read = timed(bvhio_read_only, actions, 1)
    rows.append((f"actions/ ({len(actions)} files, {frames:,} frames)", a_ours, a_pybvh, a_bvhio_read, float("nan")))

    print("\nparse + forward kinematics, seconds (median of warm runs):")
    print(
        f"  {'input':<38}{'depthrefine':>12}{'pybvh':>10}{'bvhio read':>12}{'bvhio +FK':>11}"
        f"{'vs pybvh':>10}{'vs bvhio':>10}"
    )
    for name, o, p, br, bf in rows:
        print(f"  {name:<38}{o:>12.4f}{p:>10.4f}{br:>12.3f}{bf:>11.3f}{p / o:>9.1f}x{br / o:>9.0f}x")

    seconds, n_rows = corruption_throughput(single[0])
    print(
        f"\ncorruption + shard writing (01_01, 63 markers, 4 variants): {n_rows:,} frames in {seconds:.3f} s "
        f"= {n_rows / seconds:,.0f} frames/s"
    )
    print(f"speedup_vs_pybvh={t_pybvh / t_ours:.2f}")


if __name__ == "__main__":
    main()
