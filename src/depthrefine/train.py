"""The training loop, explicit: device and precision chosen once, AdamW with warm-up and
cosine decay, validation every epoch, early stopping, atomic ``last``/``best`` checkpoints,
resume, TensorBoard logging of every loss term, the learning rate and throughput.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .dataset import WindowStream, count_windows
from .losses import TERMS, total_loss
from .markersets import load_markerset
from .model import DepthRefiner, ModelConfig, count_parameters
from .windows import MarkerIndex

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {"depth": 1.0, "mpjpe": 0.5, "bone": 0.5, "rom": 0.1, "ground": 1.0, "symmetry": 0.1, "smooth": 20.0}


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 256
    num_workers: int = 12
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    patience: int = 5
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_steps: int = 500
    grad_clip: float = 1.0
    stride: int = 1  # every stride-th window centre of each clip per epoch
    val_stride: int = 4
    max_windows_per_epoch: int | None = None
    seed: int = 0
    loss_weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        cfg = cls(**known)
        cfg.loss_weights = {**DEFAULT_WEIGHTS, **(d.get("loss_weights") or {})}
        unknown = set(cfg.loss_weights) - set(TERMS)
        if unknown:
            raise ValueError(f"loss_weights has unknown terms {sorted(unknown)}; known: {TERMS}")
        return cfg


def choose_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
    return torch.device(name)


def choose_precision(device: torch.device, name: str) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None for fp32, whether a grad scaler is needed)."""
    if device.type != "cuda" or name == "fp32":
        return None, False
    if name in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.bfloat16, False
    if name == "bf16":
        raise RuntimeError("train.precision 'bf16' is not supported on this GPU; use 'fp16' or 'auto'")
    return torch.float16, True


def git_revision(path: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def save_checkpoint(state: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))


def marker_tensors(index: MarkerIndex, device: torch.device) -> dict[str, torch.Tensor]:
    return {
        "segments": torch.as_tensor(index.segments, device=device),
        "symmetric": torch.as_tensor(index.symmetric, device=device),
        "limits": torch.as_tensor(index.limits, device=device),
        "limit_range": torch.as_tensor(index.limit_range_rad, device=device),
        "feet": torch.as_tensor(index.feet, device=device),
    }


def _loader(stream: WindowStream, workers: int) -> DataLoader:
    return DataLoader(stream, batch_size=None, num_workers=workers, persistent_workers=False, pin_memory=False)


def evaluate_loss(model, loader, index_t, weights, device, amp_dtype) -> dict[str, float]:
    model.eval()
    sums = {k: 0.0 for k in ("loss",) + TERMS}
    n = 0
    depth_abs_m = 0.0
    count = 0
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                dz = model(batch["x"])
            total, terms = total_loss(dz.float(), batch, index_t, weights)
            b = batch["x"].shape[0]
            sums["loss"] += total.item() * b
            for k, v in terms.items():
                sums[k] += v.item() * b
            n += b
            centre = dz.shape[1] // 2
            err = (dz.float()[:, centre] - batch["dz"][:, centre]).abs() * batch["scale"][:, None]
            depth_abs_m += err.sum().item()
            count += err.numel()
    model.train()
    out = {k: v / max(n, 1) for k, v in sums.items()}
    out["depth_error_mm"] = 1000 * depth_abs_m / max(count, 1)
    return out


def train(
    *,
    manifest_path: str,
    markerset_path: str,
    model_cfg: dict,
    train_cfg: dict,
    run_dir: str,
    config_snapshot: dict | None = None,
    resume: bool = True,
    repo: str | None = None,
    stop_after_epochs: int | None = None,
) -> dict:
    """Train and write ``run_dir``/{last,best}.pt, metrics.json and TensorBoard logs.
    ``stop_after_epochs`` ends this call early (time-limited cluster jobs); a later call with
    the same config resumes from ``last.pt``. Returns the summary (history, steps, device)."""
    from torch.utils.tensorboard import SummaryWriter

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(Path(manifest_path).read_text())
    tcfg = TrainConfig.from_dict(train_cfg)
    markerset = load_markerset(markerset_path)
    index = MarkerIndex.from_markerset(markerset, manifest["markers"], source=manifest_path)
    mcfg = ModelConfig(num_markers=len(index.names), **{k: v for k, v in model_cfg.items() if k != "num_markers"})
    paths = {s: [e["path"] for e in manifest["shards"] if e["split"] == s] for s in ("train", "val")}
    if not paths["train"]:
        raise ValueError(f"{manifest_path}: no training shards")
    if not paths["val"]:
        raise ValueError(f"{manifest_path}: no validation shards (set split.val_fraction or split.val_patterns)")

    torch.manual_seed(tcfg.seed)
    np.random.seed(tcfg.seed)
    device = choose_device(tcfg.device)
    amp_dtype, use_scaler = choose_precision(device, tcfg.precision)
    model = DepthRefiner(mcfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "position" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "position" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": tcfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=tcfg.lr, betas=(0.9, 0.95)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    windows_per_epoch = count_windows(manifest, "train", tcfg.stride)
    if tcfg.max_windows_per_epoch:
        windows_per_epoch = min(windows_per_epoch, tcfg.max_windows_per_epoch)
    steps_per_epoch = max(1, windows_per_epoch // tcfg.batch_size)
    total_steps = tcfg.epochs * steps_per_epoch
    index_t = marker_tensors(index, device)
    config = {"model": mcfg.to_dict(), "train": asdict(tcfg), "markers": index.names, "markerset": markerset.name,
              "markerset_path": markerset_path, "index": index.to_dict(), "snapshot": config_snapshot or {}}
    state = {"step": 0, "epoch": 0, "best_val": math.inf, "stale_epochs": 0, "history": []}

    last_path, best_path = run / "last.pt", run / "best.pt"
    if resume and last_path.exists():
        ckpt = torch.load(last_path, map_location=device, weights_only=False)
        if ckpt["config"]["model"] != config["model"] or ckpt["config"]["train"] != config["train"] or ckpt["config"]["markers"] != index.names:
            log.warning("%s was trained with another config: starting afresh", last_path)
        else:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            state = ckpt["state"]
            torch.set_rng_state(ckpt["torch_rng"])
            log.info("resuming from %s at epoch %d, step %d", last_path, state["epoch"], state["step"])

    log.info("model %s: %.2fM parameters; device %s, precision %s; %d windows/epoch (%d steps), %d epochs",
             mcfg, count_parameters(model) / 1e6, device, amp_dtype or "fp32", windows_per_epoch, steps_per_epoch, tcfg.epochs)
    writer = SummaryWriter(str(run / "tensorboard"), purge_step=state["step"] if state["step"] else None)
    if state["step"] == 0:
        writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")
    workers = max(0, min(tcfg.num_workers, len(paths["train"])))
    val_stream = WindowStream(paths["val"], index, mcfg.window, tcfg.batch_size, shuffle=False, stride=tcfg.val_stride,
                              lowpass_hz=mcfg.input_lowpass_hz)
    train_stream = WindowStream(paths["train"], index, mcfg.window, tcfg.batch_size, shuffle=True, seed=tcfg.seed,
                                stride=tcfg.stride, max_windows=tcfg.max_windows_per_epoch, lowpass_hz=mcfg.input_lowpass_hz)
    revision = git_revision(Path(repo)) if repo else "unknown"
    model.train()
    stop_at = state["epoch"] + stop_after_epochs if stop_after_epochs else tcfg.epochs
    while state["epoch"] < min(tcfg.epochs, stop_at) and state["stale_epochs"] < tcfg.patience:
        epoch = state["epoch"]
        train_stream.set_epoch(epoch)
        sums = {k: 0.0 for k in ("loss",) + TERMS}
        seen, started = 0, time.perf_counter()
        bar = tqdm(_loader(train_stream, workers), total=steps_per_epoch, desc=f"epoch {epoch + 1}/{tcfg.epochs}",
                   unit="batch", mininterval=5.0)
        for batch in bar:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            for group in optimizer.param_groups:
                group["lr"] = tcfg.lr * lr_factor(state["step"], tcfg.warmup_steps, total_steps)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                dz = model(batch["x"])
            loss, terms = total_loss(dz.float(), batch, index_t, tcfg.loss_weights)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            b = batch["x"].shape[0]
            seen += b
            values = {k: v.item() for k, v in terms.items()}
            values["loss"] = loss.item()
            for k, v in values.items():
                sums[k] += v * b
            state["step"] += 1
            if state["step"] % 20 == 0:
                for k, v in values.items():
                    writer.add_scalar(f"train/{k}", v, state["step"])
                writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], state["step"])
                bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
        elapsed = time.perf_counter() - started
        throughput = seen / max(elapsed, 1e-9)
        train_metrics = {k: v / max(seen, 1) for k, v in sums.items()}
        val = evaluate_loss(model, _loader(val_stream, min(workers, len(paths["val"]))), index_t, tcfg.loss_weights, device, amp_dtype)
        writer.add_scalar("train/windows_per_s", throughput, state["step"])
        for k, v in val.items():
            writer.add_scalar(f"val/{k}", v, state["step"])
        state["epoch"] += 1
        improved = val["loss"] < state["best_val"]
        state["best_val"] = min(state["best_val"], val["loss"])
        state["stale_epochs"] = 0 if improved else state["stale_epochs"] + 1
        record = {"epoch": state["epoch"], "step": state["step"], "train": train_metrics, "val": val, "windows_per_s": throughput}
        state["history"].append(record)
        log.info("epoch %d: train loss %.4f, val loss %.4f, val depth error %.1f mm, %.0f windows/s%s",
                 state["epoch"], train_metrics["loss"], val["loss"], val["depth_error_mm"], throughput, " (best)" if improved else "")
        ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "state": state, "config": config, "metrics": record, "git_revision": revision,
                "torch_rng": torch.get_rng_state(), "step": state["step"], "epoch": state["epoch"]}
        save_checkpoint(ckpt, last_path)
        if improved:
            save_checkpoint(ckpt, best_path)
    writer.close()
    if state["stale_epochs"] >= tcfg.patience:
        log.info("early stop: no validation improvement for %d epochs", tcfg.patience)
    summary = {"epochs": state["epoch"], "steps": state["step"], "best_val_loss": state["best_val"],
               "history": state["history"], "device": str(device), "precision": str(amp_dtype or "fp32"),
               "parameters": count_parameters(model), "git_revision": revision, "config": config}
    (run / "metrics.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
