"""Refine a marker sequence with a trained model (library side of ``depthrefine-refine``).

torch is imported only when a model is loaded; CPU by default, a GPU when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .windows import MarkerIndex, body_scale, normalise, windows_of


@dataclass
class LoadedModel:
    model: object  # DepthRefiner
    index: MarkerIndex
    window: int
    device: object
    path: str

    @property
    def markers(self) -> list[str]:
        return self.index.names


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    import torch

    from .model import DepthRefiner, ModelConfig

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} not found (train one with: snakemake train)")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but no CUDA device is available")
    ckpt = torch.load(path, map_location=device, weights_only=False)
    cfg = ModelConfig(**ckpt["config"]["model"])
    model = DepthRefiner(cfg)
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    return LoadedModel(model, MarkerIndex.from_dict(ckpt["config"]["index"]), cfg.window, torch.device(device), str(path))


def refine_sequence(loaded: LoadedModel, observed: np.ndarray, batch_size: int = 2048, source: str = "") -> np.ndarray:
    """Depth-refined copy of ``observed`` (F, M, 3), camera frame, metres, markers in the model's
    order. Each frame takes the centre-frame prediction of the window centred on it."""
    import torch

    if observed.ndim != 3 or observed.shape[1:] != (len(loaded.markers), 3):
        raise ValueError(f"{source or 'input'}: expected (frames, {len(loaded.markers)}, 3) markers, got {observed.shape}")
    if observed.shape[0] < loaded.window:
        raise ValueError(
            f"{source or 'input'}: {observed.shape[0]} frames is shorter than the model's window of {loaded.window} frames"
        )
    if not np.isfinite(observed).all():
        raise ValueError(f"{source or 'input'}: markers contain NaN/inf; fill gaps before refining")
    observed = observed.astype(np.float32)
    scale = body_scale(observed, loaded.index.segments)
    centre = loaded.window // 2
    out = observed.copy()
    n = observed.shape[0]
    all_windows = windows_of(observed, loaded.window)  # a view over the reflected clip
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            x, _ = normalise(all_windows[start:stop], loaded.index, scale)
            dz = loaded.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(loaded.device))
            out[start:stop, :, 2] += dz[:, centre].float().cpu().numpy() * scale
    return out
