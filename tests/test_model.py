"""Model shapes, masking, start-as-identity, and config checks."""

import pytest
import torch

from depthrefine.model.network import DepthRefiner, ModelConfig
from depthrefine.settings import config_section


def config(num_markers, **overrides):
    return ModelConfig.from_dict({**config_section("model", overrides), "num_markers": num_markers})


def test_shapes_and_identity_start():
    model = DepthRefiner(config(20, window=9, heads=2, layers=2, dim=32))
    x = torch.randn(4, 9, 20, 3)
    dz = model(x)
    assert dz.shape == (4, 9, 20)
    assert torch.count_nonzero(dz) == 0  # zero-initialised head: Δz = 0 until trained


def test_padding_mask_hides_frames():
    torch.manual_seed(0)
    model = DepthRefiner(config(5, window=5, heads=1, layers=1, dim=16, dropout=0.0)).eval()
    torch.nn.init.normal_(model.head.weight)
    x = torch.randn(1, 5, 5, 3)
    mask = torch.tensor([[True, False, False, False, False]])
    changed = x.clone()
    changed[0, 0] += 10.0  # only the masked frame changes
    a, b = model(x, padding_mask=mask), model(changed, padding_mask=mask)
    assert torch.allclose(a[0, 1:], b[0, 1:], atol=1e-5)
    assert not torch.allclose(model(x)[0, 1:], model(changed)[0, 1:], atol=1e-5)


def test_wrong_window_and_config_errors():
    model = DepthRefiner(config(20, window=9, heads=2, layers=1, dim=32))
    with pytest.raises(ValueError, match="expected windows of 9 frames × 20 markers, got 7 × 20"):
        model(torch.zeros(1, 7, 20, 3))
    with pytest.raises(ValueError, match="must be odd"):
        config(3, window=10)
    with pytest.raises(ValueError, match="divisible"):
        config(3, dim=30, heads=4)
