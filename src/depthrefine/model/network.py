"""The depth refiner: a PoseFormer-style temporal transformer over a window of frames.

Input: the corrupted markers of a window in camera coordinates, normalised (root-relative to
the centre frame's pelvis, divided by a body-size measure so any height works).
Before windowing, the observed depth passes a fixed zero-lag low-pass front end
(``input_lowpass_hz``, default 6 Hz, stored with the model). Output: a depth correction Δz
for every marker of every frame of the window, relative to that front end's depth, in the
same normalised units (multiply by the scale for metres). Inference keeps the centre frame's
prediction of each window, sliding over the sequence (``refine.py``).

Each frame is one token: its M×3 coordinates → linear embedding, plus a learned temporal
position embedding; a pre-norm transformer encoder mixes frames; a linear head maps each
frame's token to M corrections. (PoseFormer's temporal branch; its per-joint spatial
branch is replaced by the frame embedding, which sees every marker at once.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from depthrefine.settings import checked_fields


@dataclass
class ModelConfig:
    """The network's shape. Values come from the validated config's ``model`` section (the
    schema holds the defaults) plus ``num_markers`` from the marker set; no defaults here."""

    num_markers: int
    window: int
    heads: int
    layers: int
    dim: int
    dropout: float
    # Fixed front end: zero-lag Butterworth low-pass of the input depth (Hz; None = off). The
    # network then corrects what a filter cannot (drift, flips, bone geometry) on top of it.
    input_lowpass_hz: float | None

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Every field required, unknown keys refused (a typo is an error, not a default)."""
        return cls(**checked_fields(cls, d, "model"))

    def __post_init__(self):
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"model.window must be odd and positive (a centre frame), got {self.window}")
        if self.dim % self.heads:
            raise ValueError(f"model.dim ({self.dim}) must be divisible by model.heads ({self.heads})")

    def to_dict(self) -> dict:
        return asdict(self)


class DepthRefiner(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        m, d = cfg.num_markers, cfg.dim
        self.embed = nn.Linear(3 * m, d)
        self.position = nn.Parameter(torch.zeros(1, cfg.window, d))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d,
            cfg.heads,
            dim_feedforward=2 * d,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, m)
        nn.init.zeros_(self.head.weight)  # start as the identity refinement (Δz = 0)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, M, 3) normalised observed markers; padding_mask: (B, T) True where the
        frame is padding (sequence ends). Returns Δz: (B, T, M), normalised units."""
        b, t, m, _ = x.shape
        if t != self.cfg.window or m != self.cfg.num_markers:
            raise ValueError(
                f"expected windows of {self.cfg.window} frames × {self.cfg.num_markers} markers, got {t} × {m}"
            )
        tokens = self.embed(x.reshape(b, t, m * 3)) + self.position  # (B, T, D)
        tokens = self.encoder(tokens, src_key_padding_mask=padding_mask)
        return self.head(self.norm(tokens))  # (B, T, M)

    def configure_optimizer(self, lr: float, weight_decay: float) -> torch.optim.AdamW:
        """AdamW with weight decay on the matrices only: biases, norms and the position
        embedding are not decayed (decay would pull the embedding towards no position)."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            (decay if p.ndim >= 2 and "position" not in name else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
