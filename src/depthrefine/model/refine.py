"""Refine a marker sequence with a trained model (library side of ``depthrefine-refine``).

torch is imported only when a model is loaded; CPU by default, a GPU when asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthrefine.markers.index import MarkerIndex, body_scale
from depthrefine.model.windows import MIN_CLIP_FRAMES, model_input, normalise, windows_of

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: object  # DepthRefiner
    index: MarkerIndex
    window: int
    device: object
    path: str
    fps: float  # the frame rate the model was trained at
    lowpass_hz: float | None = None  # the model's fixed input front end
    aliases: dict[str, str] = field(default_factory=dict)  # other marker names a file may use
    markerset: str = ""
    on_rays: bool = False  # trained on captures on camera rays (corruption.camera: virtual)

    @property
    def markers(self) -> list[str]:
        return self.index.names


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    import torch

    from depthrefine.model.network import DepthRefiner, ModelConfig

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} not found (train one with: snakemake train)")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but no CUDA device is available")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # pickle, zip and torch errors alike: the file is no checkpoint
        raise ValueError(f"{path}: not a depthrefine model checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or not {"model", "config"} <= ckpt.keys() or "fps" not in ckpt["config"]:
        raise ValueError(
            f"{path}: not a depthrefine model checkpoint (no model, config and fps); retrain with: snakemake train"
        )
    cfg = ModelConfig.from_dict(ckpt["config"]["model"])
    model = DepthRefiner(cfg)
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    return LoadedModel(
        model=model,
        index=MarkerIndex.from_dict(ckpt["config"]["index"]),
        window=cfg.window,
        device=torch.device(device),
        path=str(path),
        fps=float(ckpt["config"]["fps"]),
        lowpass_hz=cfg.input_lowpass_hz,
        aliases=_aliases(ckpt["config"]),
        markerset=str(ckpt["config"].get("markerset", "")),
        on_rays=ckpt["config"].get("input") == "rays",
    )


def _aliases(config: dict) -> dict[str, str]:
    """The marker set's aliases, stored in the checkpoint; a checkpoint from before they were
    stored takes them from its marker-set file when that is still there."""
    if "aliases" in config:
        return dict(config["aliases"])
    path = config.get("markerset_path")
    if path and Path(path).is_file():
        from depthrefine.markers.markersets import load_markerset

        return dict(load_markerset(path).aliases or {})
    return {}


def refine_sequence(
    loaded: LoadedModel,
    observed: np.ndarray,
    fps: float,
    batch_size: int = 2048,
    source: str = "",
    stride: int | None = None,
) -> np.ndarray:
    """Depth-refined copy of ``observed`` (F, M, 3): camera frame, metres, markers in the model's
    order, ``fps`` frames per second. Input at another rate than the model's is resampled to
    the model's rate, refined, and its depth corrections are interpolated back to the input's
    own frames, so the output keeps the input's rate and frame count."""
    if abs(fps - loaded.fps) < 1e-6:
        return _refine_at_model_rate(loaded, observed, batch_size, source, stride)
    from scipy.interpolate import CubicSpline

    from depthrefine.capture.sequence import resample

    _check_input(loaded, observed, source)
    log.info(
        "%s: %g fps input refined at the model's %g fps and brought back to %g fps",
        source or "input",
        fps,
        loaded.fps,
        fps,
    )
    at_model_rate = resample(observed.astype(np.float64), fps, loaded.fps).astype(np.float32)
    delta = _refine_at_model_rate(loaded, at_model_rate, batch_size, source, stride) - at_model_rate
    t_model = np.arange(len(delta)) / loaded.fps
    t_in = np.minimum(np.arange(len(observed)) / fps, t_model[-1])
    out = observed.astype(np.float32)
    out[:, :, 2] += CubicSpline(t_model, delta[:, :, 2], axis=0)(t_in).astype(np.float32)
    return out


def _check_input(loaded: LoadedModel, observed: np.ndarray, source: str) -> None:
    if observed.ndim != 3 or observed.shape[1:] != (len(loaded.markers), 3):
        raise ValueError(
            f"{source or 'input'}: expected (frames, {len(loaded.markers)}, 3) markers, got {observed.shape}"
        )
    if not np.isfinite(observed).all():
        raise ValueError(f"{source or 'input'}: markers contain NaN/inf; fill gaps before refining")


def _refine_at_model_rate(
    loaded: LoadedModel, observed: np.ndarray, batch_size: int, source: str, stride: int | None
) -> np.ndarray:
    """``stride`` 1: each frame takes the centre-frame prediction of the window centred on
    it. ``stride`` k > 1: windows every k frames; every frame averages the predictions of the
    windows covering it, weighted towards each window's centre (k times less compute). The
    default, (window + 1) // 2, covers every frame by two windows and refines a minute of
    60 fps video in 1.4 s on 2 cores with the default model (bench/bench_refine.py; 1.2 s with
    an 11-frame window on the same machine: the windows cost about the same per frame)."""
    import torch

    _check_input(loaded, observed, source)
    if observed.shape[0] < MIN_CLIP_FRAMES:
        raise ValueError(
            f"{source or 'input'}: {observed.shape[0]} frames at {loaded.fps:g} fps is shorter than the "
            f"{MIN_CLIP_FRAMES} frames the refiner needs (a clip shorter than its window of "
            f"{loaded.window} frames is reflected back and forth to fill it)"
        )
    stride = (loaded.window + 1) // 2 if stride is None else stride
    if not 1 <= stride <= loaded.window:
        raise ValueError(f"stride must be between 1 and the window ({loaded.window}), got {stride}")
    observed = model_input(observed.astype(np.float32), loaded.fps, loaded.lowpass_hz)
    scale = body_scale(observed, loaded.index.segments)
    n, half = observed.shape[0], loaded.window // 2
    all_windows = windows_of(observed, loaded.window)  # a view over the reflected clip
    centres = np.arange(0, n, stride)
    if centres[-1] != n - 1:
        centres = np.append(centres, n - 1)
    weight = 1.0 - np.abs(np.arange(loaded.window) - half) / (half + 1.0)  # (T,) peak at the centre
    total = np.zeros((n, observed.shape[1]), dtype=np.float64)
    norm = np.zeros(n)
    with torch.inference_mode():
        for start in range(0, len(centres), batch_size):
            chunk = centres[start : start + batch_size]
            x, _ = normalise(all_windows[chunk], loaded.index, scale)
            dz = loaded.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(loaded.device))
            dz = dz.float().cpu().numpy() * scale  # (B, T, M) metres
            if stride == 1:
                total[chunk] += dz[:, half]
                norm[chunk] += 1.0
                continue
            frames = chunk[:, None] + np.arange(-half, half + 1)  # (B, T), reflected ends fall outside
            inside = (frames >= 0) & (frames < n)
            w = np.broadcast_to(weight, frames.shape)[inside]
            np.add.at(total, frames[inside], dz[inside] * w[:, None])
            np.add.at(norm, frames[inside], w)
    out = observed.copy()
    out[:, :, 2] += (total / norm[:, None]).astype(np.float32)
    return out
