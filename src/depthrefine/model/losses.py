"""Training losses: a data term plus five biomechanical terms, all in normalised units.

Tensors: corrected / true positions (B, T, M, 3); Δz (B, T, M). Definitions in docs/model.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TERMS = ("depth", "mpjpe", "bone", "rom", "ground", "symmetry", "smooth")


def segment_lengths(xyz: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """(B, T, M, 3), (S, 2) → (B, T, S)."""
    return (xyz[..., segments[:, 0], :] - xyz[..., segments[:, 1], :]).norm(dim=-1)


def depth_loss(dz: torch.Tensor, dz_true: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 on the depth correction (β = 0.05 normalised units ≈ 2 cm)."""
    return F.smooth_l1_loss(dz, dz_true, beta=0.05)


def mpjpe_loss(corrected: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean per-marker 3D distance between corrected and true positions."""
    return (corrected - true).norm(dim=-1).mean()


def bone_loss(corrected: torch.Tensor, segments: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Segment lengths constant over the window (squared CV) and equal to the sequence's own
    estimate ``reference`` (B, S) (squared relative deviation)."""
    lengths = segment_lengths(corrected, segments)  # (B, T, S)
    mean = lengths.mean(dim=1).clamp_min(1e-6)
    cv2 = (lengths.var(dim=1, unbiased=False) / mean**2).mean()
    ref = reference.clamp_min(1e-6)[:, None, :]
    return cv2 + (((lengths - ref) / ref) ** 2).mean()


def flexion(xyz: torch.Tensor, triplets: torch.Tensor) -> torch.Tensor:
    """Flexion angle (rad) at the middle marker of each (a, b, c): π − angle(a−b, c−b)."""
    u = xyz[..., triplets[:, 0], :] - xyz[..., triplets[:, 1], :]
    v = xyz[..., triplets[:, 2], :] - xyz[..., triplets[:, 1], :]
    # atan2(|u×v|, u·v) is accurate near 0° and 180° (acos is not) and, with the small
    # epsilon, has finite gradients for a straight limb.
    cross = torch.linalg.cross(u, v).pow(2).sum(-1).add(1e-12).sqrt()
    return torch.pi - torch.atan2(cross, (u * v).sum(-1))


def rom_loss(corrected: torch.Tensor, triplets: torch.Tensor, ranges: torch.Tensor) -> torch.Tensor:
    """Squared excursion (rad²) of flexion angles outside their physiological [min, max]."""
    if triplets.numel() == 0:
        return corrected.new_zeros(())
    angle = flexion(corrected, triplets)
    return (F.relu(angle - ranges[:, 1]) ** 2 + F.relu(ranges[:, 0] - angle) ** 2).mean()


def ground_loss(
    corrected: torch.Tensor, feet: torch.Tensor, up: torch.Tensor, floor: torch.Tensor, contact: torch.Tensor
) -> torch.Tensor:
    """No foot marker below the floor (squared penetration along ``up``), and no sliding of
    feet in contact: squared horizontal displacement between consecutive contact frames.
    up: (B, 3); floor: (B,) height of the floor along up; contact: (B, T, K) bool."""
    if feet.numel() == 0:
        return corrected.new_zeros(())
    foot = corrected[..., feet, :]  # (B, T, K, 3)
    height = (foot * up[:, None, None, :]).sum(-1)  # (B, T, K)
    below = F.relu(floor[:, None, None] - height) ** 2
    step = foot[:, 1:] - foot[:, :-1]
    horizontal = step - (step * up[:, None, None, :]).sum(-1, keepdim=True) * up[:, None, None, :]
    both = (contact[:, 1:] & contact[:, :-1]).to(corrected.dtype)
    slide = (horizontal.pow(2).sum(-1) * both).sum() / both.sum().clamp_min(1.0)
    return below.mean() + slide


def symmetry_loss(corrected: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Left/right segment lengths equal: squared relative difference. pairs: (P, 2, 2)."""
    if pairs.numel() == 0:
        return corrected.new_zeros(())
    left = segment_lengths(corrected, pairs[:, 0])
    right = segment_lengths(corrected, pairs[:, 1])
    return (((left - right) / (0.5 * (left + right)).clamp_min(1e-6)) ** 2).mean()


def smooth_loss(corrected_z: torch.Tensor) -> torch.Tensor:
    """Mean squared second difference (acceleration) of the corrected depth over time."""
    if corrected_z.shape[1] < 3:
        return corrected_z.new_zeros(())
    return (corrected_z[:, 2:] - 2 * corrected_z[:, 1:-1] + corrected_z[:, :-2]).pow(2).mean()


def total_loss(dz: torch.Tensor, batch: dict, index: dict, weights: dict) -> tuple[torch.Tensor, dict]:
    """Weighted sum of every term; returns (total, {term: value}). ``index`` holds the marker
    structure as tensors (segments, symmetric, limits, limit_range, feet)."""
    x, true = batch["x"], batch["true"]
    corrected = torch.cat([x[..., :2], (x[..., 2] + dz)[..., None]], dim=-1)
    terms = {
        "depth": depth_loss(dz, batch["dz"]),
        "mpjpe": mpjpe_loss(corrected, true),
        "bone": bone_loss(corrected, index["segments"], batch["ref_len"]),
        "rom": rom_loss(corrected, index["limits"], index["limit_range"]),
        "ground": ground_loss(corrected, index["feet"], batch["up"], batch["floor"], batch["contact"]),
        "symmetry": symmetry_loss(corrected, index["symmetric"]),
        "smooth": smooth_loss(corrected[..., 2]),
    }
    total = sum(weights.get(k, 0.0) * v for k, v in terms.items())
    return total, terms
