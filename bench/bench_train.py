"""Training throughput (windows/s) of the default model, and data-loading throughput beside it.

    python bench/bench_train.py [--steps 20] [--workers 2] [--device auto]

Builds real shards of six CMU files, then (1) streams batches through the DataLoader alone,
(2) times optimizer steps of the configured model (config/config.yaml `model`) on batches held
in memory, and (3) runs both together. If loading is faster than training, it is not the
bottleneck. On a GPU it also reports precision and the fraction of the GPU's peak FLOP/s.
Last line: ``windows_per_s=<x>`` (training, loader included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import REPO, build_shards, default_model_config

from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import load_markerset
from depthrefine.model.dataset import WindowStream
from depthrefine.model.losses import total_loss
from depthrefine.model.network import DepthRefiner, ModelConfig, count_parameters
from depthrefine.model.train import (
    choose_device,
    choose_precision,
    marker_tensors,
)
from depthrefine.settings import defaults

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = build_shards(Path(tmp))
        import json

        m = json.loads(manifest.read_text())
        index = MarkerIndex.from_markerset(load_markerset(REPO / "config/markersets/opencap.yaml"), m["markers"])
        paths = [e["path"] for e in m["shards"] if e["split"] == "train"]
        mcfg = ModelConfig.from_dict({**default_model_config(), "num_markers": len(index.names)})
        stream = WindowStream(paths, index, mcfg.window, args.batch_size, shuffle=True, seed=0, buffer_windows=4096)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=args.workers)

        start, n = time.perf_counter(), 0
        for batch in loader:
            n += len(batch["x"])
        load_rate = n / (time.perf_counter() - start)

        device = choose_device(args.device)
        amp, use_scaler = choose_precision(device, "auto")
        model = DepthRefiner(mcfg).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
        idx = marker_tensors(index, device)
        batches = []
        for batch in loader:
            batches.append({k: v.to(device) for k, v in batch.items()})
            if len(batches) >= 4:
                break

        def step(batch):
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                dz = model(batch["x"])
            loss, _ = total_loss(dz.float(), batch, idx, defaults()["loss_weights"])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        for b in batches[:2]:
            step(b)  # warm-up
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        for i in range(args.steps):
            step(batches[i % len(batches)])
        sync()
        compute_rate = args.steps * args.batch_size / (time.perf_counter() - start)

        start, n = time.perf_counter(), 0
        for i, batch in enumerate(loader):
            step({k: v.to(device, non_blocking=True) for k, v in batch.items()})
            n += len(batch["x"])
            if i + 1 >= args.steps:
                break
        sync()
        together = n / (time.perf_counter() - start)

    params = count_parameters(model)
    flops_per_window = 6 * params * mcfg.window  # forward + backward, dense layers
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"model: window {mcfg.window}, {mcfg.layers} layers, dim {mcfg.dim}, {params / 1e6:.1f}M parameters; "
        f"batch {args.batch_size}; device {name}; precision {amp or 'fp32'}"
    )
    print(f"  data loading alone ({args.workers} workers): {load_rate:10,.0f} windows/s")
    print(f"  training steps alone (batches in memory): {compute_rate:10,.0f} windows/s")
    print(f"  training with the loader:                 {together:10,.0f} windows/s")
    print(
        f"  loading / training = {load_rate / compute_rate:.1f}x -> "
        f"{'data loading is not the bottleneck' if load_rate > compute_rate else 'data loading IS the bottleneck'}"
    )
    achieved = flops_per_window * together / 1e12
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    print(
        f"  ≈{achieved:.2f} TFLOP/s (6·params·tokens)"
        + (f" = {100 * achieved / peak:.1f} % of {peak:.0f} TFLOP/s peak" if peak else "")
    )
    print(f"windows_per_s={together:.1f}")


if __name__ == "__main__":
    main()
