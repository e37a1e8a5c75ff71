"""The training loop, explicit: device and precision chosen once, AdamW with warm-up and
cosine decay, validation every epoch, early stopping, atomic ``last``/``best`` checkpoints,
resume, TensorBoard logging of every loss term, the learning rate and throughput.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import load_markerset
from depthrefine.model.dataset import WindowStream, count_windows, source_keep
from depthrefine.model.losses import TERMS, total_loss
from depthrefine.model.network import DepthRefiner, ModelConfig, count_parameters
from depthrefine.settings import checked_fields

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """The config's ``train`` section plus ``seed`` and ``loss_weights`` (the schema holds the
    defaults; no defaults here)."""

    epochs: int
    batch_size: int
    num_workers: int
    device: str  # auto | cpu | cuda
    precision: str  # auto | fp32 | bf16 | fp16
    patience: int
    lr: float
    weight_decay: float
    warmup_steps: int
    grad_clip: float
    stride: int  # every stride-th window centre of each clip per epoch
    val_stride: int
    max_windows_per_epoch: int | None
    resume: bool  # continue last.pt of the same config and data; not part of the config's identity
    seed: int
    loss_weights: dict

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Every field required, unknown keys and unknown loss terms refused."""
        cfg = cls(**checked_fields(cls, d, "train"))
        if set(cfg.loss_weights) != set(TERMS):
            raise ValueError(f"loss_weights: expected exactly the terms {list(TERMS)}, got {sorted(cfg.loss_weights)}")
        return cfg

    def identity(self) -> dict:
        """What a checkpoint must match to be resumed."""
        return {k: v for k, v in asdict(self).items() if k != "resume"}


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
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def save_checkpoint(state: dict, path: Path) -> None:
    from depthrefine.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


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


@dataclass
class Run:
    """Everything one training run holds, built once by ``setup_run``."""

    model: DepthRefiner
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None
    tcfg: TrainConfig
    index_t: dict
    config: dict  # recorded in every checkpoint; a resumed run must match it
    state: dict  # step, epoch, best_val, stale_epochs, history


def run_config(
    manifest: dict,
    manifest_path: str,
    markerset_path: str,
    model_cfg: dict,
    tcfg: TrainConfig,
    config_snapshot: dict | None,
    source_weights: dict | None = None,
) -> tuple[dict, MarkerIndex, ModelConfig]:
    """The run's identity: model and training config, marker set, frame rate, the source
    weights and the data (the sha256 of every train/val shard, so that changed shards are
    trained on afresh)."""
    markerset = load_markerset(markerset_path)
    index = MarkerIndex.from_markerset(markerset, manifest["markers"], source=manifest_path)
    mcfg = ModelConfig.from_dict({**model_cfg, "num_markers": len(index.names)})
    if not manifest.get("fps"):
        raise ValueError(f"{manifest_path}: no frame rate (fps); rebuild the shard set with: snakemake shards")
    data = {e["path"]: e.get("sha256") for e in manifest["shards"] if e["split"] in ("train", "val")}
    config = {
        "model": mcfg.to_dict(),
        "train": tcfg.identity(),
        "markers": index.names,
        "markerset": markerset.name,
        "markerset_path": markerset_path,
        "aliases": dict(markerset.aliases or {}),  # so the refine CLI reads what the workflow reads
        "index": index.to_dict(),
        "fps": float(manifest["fps"]),
        # Trained on a virtual camera's capture on rays (corruption.camera: virtual): a video is
        # then put on its rays before it is refined, as the training input was.
        "input": "rays" if manifest.get("config", {}).get("corruption", {}).get("camera") == "virtual" else "camera",
        "data": data,
        "source_weights": dict(sorted((source_weights or {}).items())),
        "snapshot": config_snapshot or {},
    }
    return config, index, mcfg


def setup_run(config: dict, index: MarkerIndex, mcfg: ModelConfig, tcfg: TrainConfig) -> Run:
    """Seeds, device and precision chosen once, the model, its optimizer and the grad scaler."""
    torch.manual_seed(tcfg.seed)
    np.random.seed(tcfg.seed)
    device = choose_device(tcfg.device)
    amp_dtype, use_scaler = choose_precision(device, tcfg.precision)
    model = DepthRefiner(mcfg).to(device)
    optimizer = model.configure_optimizer(tcfg.lr, tcfg.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    state = {"step": 0, "epoch": 0, "best_val": math.inf, "stale_epochs": 0, "history": []}
    return Run(model, optimizer, scaler, device, amp_dtype, tcfg, marker_tensors(index, device), config, state)


def resume_from(run: Run, last_path: Path) -> bool:
    """Load ``last_path`` into ``run`` if it was made by the same config and data."""
    ckpt = torch.load(last_path, map_location=run.device, weights_only=False)
    ours = {k: v for k, v in run.config.items() if k != "snapshot"}
    theirs = {k: v for k, v in ckpt["config"].items() if k != "snapshot"}
    if ours != theirs:
        changed = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        log.warning("%s was trained with another %s: starting afresh", last_path, ", ".join(changed))
        return False
    run.model.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.scaler.load_state_dict(ckpt["scaler"])
    run.state = ckpt["state"]
    torch.set_rng_state(ckpt["torch_rng"])
    log.info("resuming from %s at epoch %d, step %d", last_path, run.state["epoch"], run.state["step"])
    return True


def train_step(run: Run, batch: dict, total_steps: int) -> dict[str, float]:
    """One optimiser step on one batch; returns the loss and its terms."""
    tcfg = run.tcfg
    batch = {k: v.to(run.device, non_blocking=True) for k, v in batch.items()}
    for group in run.optimizer.param_groups:
        group["lr"] = tcfg.lr * lr_factor(run.state["step"], tcfg.warmup_steps, total_steps)
    with torch.autocast(run.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        dz = run.model(batch["x"])
    loss, terms = total_loss(dz.float(), batch, run.index_t, tcfg.loss_weights)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.optimizer)
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), tcfg.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.state["step"] += 1
    values = {k: v.item() for k, v in terms.items()}
    values["loss"] = loss.item()
    return values


def train_epoch(run: Run, loader, steps_per_epoch: int, total_steps: int, writer) -> tuple[dict, float]:
    """One pass over the training stream: (mean loss terms, windows per second)."""
    sums = {k: 0.0 for k in ("loss",) + TERMS}
    seen, started = 0, time.perf_counter()
    desc = f"epoch {run.state['epoch'] + 1}/{run.tcfg.epochs}"
    bar = tqdm(loader, total=steps_per_epoch, desc=desc, unit="batch", mininterval=5.0)
    for batch in bar:
        values = train_step(run, batch, total_steps)
        b = batch["x"].shape[0]
        seen += b
        for k, v in values.items():
            sums[k] += v * b
        if run.state["step"] % 20 == 0:
            for k, v in values.items():
                writer.add_scalar(f"train/{k}", v, run.state["step"])
            writer.add_scalar("train/lr", run.optimizer.param_groups[0]["lr"], run.state["step"])
            bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
    throughput = seen / max(time.perf_counter() - started, 1e-9)
    return {k: v / max(seen, 1) for k, v in sums.items()}, throughput


def finish_epoch(run: Run, train_metrics: dict, val: dict, throughput: float, revision: str, run_dir: Path) -> None:
    """Early-stopping bookkeeping, then the ``last`` (and, when improved, ``best``) checkpoint."""
    state = run.state
    state["epoch"] += 1
    improved = val["loss"] < state["best_val"]
    state["best_val"] = min(state["best_val"], val["loss"])
    state["stale_epochs"] = 0 if improved else state["stale_epochs"] + 1
    record = {
        "epoch": state["epoch"],
        "step": state["step"],
        "train": train_metrics,
        "val": val,
        "windows_per_s": throughput,
    }
    state["history"].append(record)
    log.info(
        "epoch %d: train loss %.4f, val loss %.4f, val depth error %.1f mm, %.0f windows/s%s",
        state["epoch"],
        train_metrics["loss"],
        val["loss"],
        val["depth_error_mm"],
        throughput,
        " (best)" if improved else "",
    )
    ckpt = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict(),
        "state": state,
        "config": run.config,
        "metrics": record,
        "git_revision": revision,
        "torch_rng": torch.get_rng_state(),
        "step": state["step"],
        "epoch": state["epoch"],
    }
    save_checkpoint(ckpt, run_dir / "last.pt")
    if improved:
        save_checkpoint(ckpt, run_dir / "best.pt")


def train(
    *,
    manifest_path: str,
    markerset_path: str,
    model_cfg: dict,
    train_cfg: dict,
    run_dir: str,
    config_snapshot: dict | None = None,
    repo: str | None = None,
    stop_after_epochs: int | None = None,
    source_weights: dict | None = None,
) -> dict:
    """Train and write ``run_dir``/{last,best}.pt, metrics.json and TensorBoard logs.
    ``model_cfg`` and ``train_cfg`` are whole config sections (``depthrefine.settings`` gives
    the defaults); ``source_weights``: mocap source → relative rate at which its training
    windows are drawn (default 1 each; 0 leaves a source out of training).
    ``stop_after_epochs`` ends this call early (time-limited cluster jobs); a later call with
    the same config and data resumes from ``last.pt`` when ``resume`` is set.
    Returns the summary (history, steps, device). A second call on the same ``run_dir`` while
    one runs raises ``RunFolderBusy``."""
    from depthrefine.model.guard import RunLock

    run_path = Path(run_dir)
    with RunLock(run_path):  # one trainer per run folder: a second one is refused, not interleaved
        return _train_in(
            run_path,
            manifest_path=manifest_path,
            markerset_path=markerset_path,
            model_cfg=model_cfg,
            train_cfg=train_cfg,
            config_snapshot=config_snapshot,
            repo=repo,
            stop_after_epochs=stop_after_epochs,
            source_weights=source_weights,
        )


def _train_in(
    run_path: Path,
    *,
    manifest_path: str,
    markerset_path: str,
    model_cfg: dict,
    train_cfg: dict,
    config_snapshot: dict | None,
    repo: str | None,
    stop_after_epochs: int | None,
    source_weights: dict | None = None,
) -> dict:
    from torch.utils.tensorboard import SummaryWriter

    from depthrefine.io import atomic_write_text

    manifest = json.loads(Path(manifest_path).read_text())
    tcfg = TrainConfig.from_dict(train_cfg)
    config, index, mcfg = run_config(
        manifest, manifest_path, markerset_path, model_cfg, tcfg, config_snapshot, source_weights
    )
    keep = source_keep(manifest, source_weights)
    paths = {
        s: [e["path"] for e in manifest["shards"] if e["split"] == s and keep.get(e["path"], 1.0) > 0]
        for s in ("train", "val")
    }
    if not paths["train"]:
        raise ValueError(f"{manifest_path}: no training shards")
    if not paths["val"]:
        raise ValueError(f"{manifest_path}: no validation shards (set split.val_fraction or split.val_patterns)")
    run = setup_run(config, index, mcfg, tcfg)
    windows_per_epoch = count_windows(manifest, "train", tcfg.stride, keep)
    if tcfg.max_windows_per_epoch:
        windows_per_epoch = min(windows_per_epoch, tcfg.max_windows_per_epoch)
    steps_per_epoch = max(1, windows_per_epoch // tcfg.batch_size)
    total_steps = tcfg.epochs * steps_per_epoch
    last_path = run_path / "last.pt"
    if tcfg.resume and last_path.exists():
        resume_from(run, last_path)
    state = run.state

    log.info(
        "model %s: %.2fM parameters; device %s, precision %s; %d windows/epoch (%d steps), %d epochs",
        mcfg,
        count_parameters(run.model) / 1e6,
        run.device,
        run.amp_dtype or "fp32",
        windows_per_epoch,
        steps_per_epoch,
        tcfg.epochs,
    )
    writer = SummaryWriter(str(run_path / "tensorboard"), purge_step=state["step"] if state["step"] else None)
    if state["step"] == 0:
        writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")
    workers = max(0, min(tcfg.num_workers, len(paths["train"])))
    val_stream = WindowStream(
        paths["val"],
        index,
        mcfg.window,
        tcfg.batch_size,
        shuffle=False,
        stride=tcfg.val_stride,
        lowpass_hz=mcfg.input_lowpass_hz,
    )
    train_stream = WindowStream(
        paths["train"],
        index,
        mcfg.window,
        tcfg.batch_size,
        shuffle=True,
        seed=tcfg.seed,
        stride=tcfg.stride,
        max_windows=tcfg.max_windows_per_epoch,
        lowpass_hz=mcfg.input_lowpass_hz,
        keep=[keep.get(p, 1.0) for p in paths["train"]],
    )
    revision = git_revision(Path(repo)) if repo else "unknown"
    run.model.train()
    stop_at = state["epoch"] + stop_after_epochs if stop_after_epochs else tcfg.epochs
    while state["epoch"] < min(tcfg.epochs, stop_at) and state["stale_epochs"] < tcfg.patience:
        train_stream.set_epoch(state["epoch"])
        train_metrics, throughput = train_epoch(
            run, _loader(train_stream, workers), steps_per_epoch, total_steps, writer
        )
        val_loader = _loader(val_stream, min(workers, len(paths["val"])))
        val = evaluate_loss(run.model, val_loader, run.index_t, tcfg.loss_weights, run.device, run.amp_dtype)
        writer.add_scalar("train/windows_per_s", throughput, state["step"])
        for k, v in val.items():
            writer.add_scalar(f"val/{k}", v, state["step"])
        finish_epoch(run, train_metrics, val, throughput, revision, run_path)
        state = run.state
    writer.close()
    if state["stale_epochs"] >= tcfg.patience:
        log.info("early stop: no validation improvement for %d epochs", tcfg.patience)
    summary = {
        "epochs": state["epoch"],
        "steps": state["step"],
        "best_val_loss": state["best_val"],
        "history": state["history"],
        "device": str(run.device),
        "precision": str(run.amp_dtype or "fp32"),
        "parameters": count_parameters(run.model),
        "git_revision": revision,
        "config": config,
    }
    atomic_write_text(run_path / "metrics.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary
