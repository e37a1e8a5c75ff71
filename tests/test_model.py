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


def test_a_clip_shorter_than_the_window_is_reflected_back_and_forth():
    """Every window is centred on its frame and holds only the clip's frames, in the order
    a reflection at both ends gives (… 2 1 0 1 2 … n−1 n−2 …)."""
    import numpy as np

    from depthrefine.model.windows import windows_of

    clip = np.arange(6, dtype=float)[:, None, None]  # 6 frames, 1 marker, 1 channel
    w = windows_of(clip, 21)[..., 0, 0]
    assert w.shape == (6, 21)
    np.testing.assert_array_equal(w[:, 10], np.arange(6))
    np.testing.assert_array_equal(w[0, 10:], [0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0])
    np.testing.assert_array_equal(w[0, :11], [0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0])
    assert np.abs(np.diff(w, axis=1)).max() == 1  # continuous: no jump back to the start
    with pytest.raises(ValueError, match="needs at least 2"):
        windows_of(clip[:1], 21)


def test_training_sees_short_contexts_in_the_share_asked():
    """context_parts cuts a clip into consecutive parts covering it once; about the share of
    frames asked lies in parts from MIN_CLIP_FRAMES up to shorter than the window."""
    import numpy as np

    from depthrefine.model.windows import MIN_CLIP_FRAMES, context_parts

    rng = np.random.default_rng(0)
    short = total = 0
    for n in rng.integers(100, 2000, size=50):
        parts = context_parts(int(n), 81, 0.25, rng)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        lengths = np.array([b - a for a, b in parts])
        assert (lengths[:-1] >= MIN_CLIP_FRAMES).all() and (lengths[:-1] < 81).all()
        short += lengths[:-1].sum()
        total += n
    assert 0.22 < short / total < 0.3
    assert context_parts(500, 81, 0.0, rng) == [(0, 500)]
    assert context_parts(500, MIN_CLIP_FRAMES, 0.25, rng) == [(0, 500)]  # no shorter context exists
