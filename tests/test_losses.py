"""Each loss on a hand-made case whose value is known."""

import math

import pytest
import torch

from depthrefine.model import losses


def line(lengths):
    """Two markers per frame on the x axis, `lengths` apart: (1, T, 2, 3)."""
    t = len(lengths)
    xyz = torch.zeros(1, t, 2, 3)
    xyz[0, :, 1, 0] = torch.tensor(lengths, dtype=torch.float32)
    return xyz


def test_depth_and_mpjpe():
    assert losses.depth_loss(torch.zeros(2, 3), torch.zeros(2, 3)) == 0
    # smooth-L1, quadratic region: 0.5 d² / β with d = 0.01, β = 0.05
    assert losses.depth_loss(torch.full((4,), 0.01), torch.zeros(4)).item() == pytest.approx(0.5 * 1e-4 / 0.05)
    a, b = torch.zeros(1, 1, 1, 3), torch.tensor([[[[3.0, 4.0, 0.0]]]])
    assert losses.mpjpe_loss(a, b).item() == pytest.approx(5.0)


def test_bone_loss():
    seg = torch.tensor([[0, 1]])
    assert losses.bone_loss(line([2.0, 2.0, 2.0]), seg, torch.tensor([[2.0]])).item() == pytest.approx(0.0)
    # lengths 1, 3: mean 2, variance 1 → CV² = 0.25; vs reference 2: ((±1)/2)² = 0.25 → 0.5
    assert losses.bone_loss(line([1.0, 3.0]), seg, torch.tensor([[2.0]])).item() == pytest.approx(0.5)


def test_flexion_and_rom():
    xyz = torch.tensor(
        [[[[0.0, 1, 0], [0, 0, 0], [0, -1, 0]], [[0.0, 1, 0], [0, 0, 0], [1, 0, 0]]]]
    )  # straight, right angle
    triplet = torch.tensor([[0, 1, 2]])
    assert losses.flexion(xyz, triplet)[0, :, 0].tolist() == pytest.approx([0.0, math.pi / 2], abs=1e-4)
    bent = torch.tensor(
        [[[[0.0, 1, 0], [0, 0, 0], [math.sin(math.radians(10)), math.cos(math.radians(10)), 0]]]]
    )  # 170°
    limit = torch.tensor([[0.0, math.radians(160)]])
    assert losses.rom_loss(bent, triplet, limit).item() == pytest.approx(math.radians(10) ** 2, rel=1e-3)
    assert losses.rom_loss(xyz, triplet, limit).item() == 0.0


def test_ground_loss():
    up = torch.tensor([[0.0, -1.0, 0.0]])  # camera y points down
    feet = torch.tensor([0])
    foot = torch.zeros(1, 2, 1, 3)
    foot[0, :, 0, 1] = 0.1  # 0.1 below a floor at height 0 (height = −y)
    no_contact = torch.zeros(1, 2, 1, dtype=torch.bool)
    assert losses.ground_loss(foot, feet, up, torch.zeros(1), no_contact).item() == pytest.approx(0.01)
    slide = torch.zeros(1, 2, 1, 3)
    slide[0, 1, 0, 0] = 0.2  # moves 0.2 horizontally between two contact frames
    contact = torch.ones(1, 2, 1, dtype=torch.bool)
    assert losses.ground_loss(slide, feet, up, torch.full((1,), -1.0), contact).item() == pytest.approx(0.04)


def test_symmetry_and_smooth():
    xyz = torch.zeros(1, 1, 4, 3)
    xyz[0, 0, 1, 0], xyz[0, 0, 3, 0] = 1.0, 3.0  # left segment 1, right segment 3
    pairs = torch.tensor([[[0, 1], [2, 3]]])
    assert losses.symmetry_loss(xyz, pairs).item() == pytest.approx(1.0)  # ((1−3)/2)²
    z = torch.arange(5, dtype=torch.float32)[None, :, None] ** 2  # z = t²: second difference 2
    assert losses.smooth_loss(z).item() == pytest.approx(4.0)


def test_total_loss_weights_and_terms():
    batch = {
        "x": torch.zeros(2, 3, 4, 3),
        "true": torch.zeros(2, 3, 4, 3),
        "dz": torch.zeros(2, 3, 4),
        "ref_len": torch.ones(2, 1),
        "up": torch.tensor([[0.0, -1, 0]] * 2),
        "floor": torch.full((2,), -5.0),
        "contact": torch.zeros(2, 3, 1, dtype=torch.bool),
    }
    batch["x"][..., 1, 0] = 1.0
    batch["true"][..., 1, 0] = 1.0
    index = {
        "segments": torch.tensor([[0, 1]]),
        "symmetric": torch.zeros(0, 2, 2, dtype=torch.long),
        "limits": torch.zeros(0, 3, dtype=torch.long),
        "limit_range": torch.zeros(0, 2),
        "feet": torch.tensor([2]),
    }
    total, terms = losses.total_loss(torch.zeros(2, 3, 4), batch, index, {"depth": 1.0})
    assert set(terms) == set(losses.TERMS) and total.item() == 0.0
    total, _ = losses.total_loss(torch.full((2, 3, 4), 0.01), batch, index, {"depth": 2.0, "smooth": 5.0})
    assert total.item() == pytest.approx(2 * 0.5 * 1e-4 / 0.05)
