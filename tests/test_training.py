"""Training on real shards: the loss falls, checkpoints resume exactly, bad inputs are named."""

import json

import pytest
import torch
from conftest import REPO, TINY_MODEL, TINY_TRAIN

from depthrefine.markers.index import MarkerIndex
from depthrefine.markers.markersets import load_markerset
from depthrefine.model.dataset import WindowStream
from depthrefine.model.losses import total_loss
from depthrefine.model.network import DepthRefiner, ModelConfig
from depthrefine.model.train import lr_factor, marker_tensors, train
from depthrefine.settings import defaults

DEFAULT_WEIGHTS = defaults()["loss_weights"]

OPENCAP = str(REPO / "config/markersets/opencap.yaml")


def index_and_paths(manifest_path, split="train"):
    manifest = json.loads(manifest_path.read_text())
    index = MarkerIndex.from_markerset(load_markerset(OPENCAP), manifest["markers"])
    return index, [e["path"] for e in manifest["shards"] if e["split"] == split]


def test_window_batches_are_normalised(small_shards):
    index, paths = index_and_paths(small_shards)
    batch = next(iter(WindowStream(paths, index, 11, 32, shuffle=True, seed=1)))
    assert batch["x"].shape == (32, 11, 63, 3) and batch["dz"].shape == (32, 11, 63)
    centre_root = batch["x"][:, 5, index.pelvis].mean(dim=1)
    assert torch.allclose(centre_root, torch.zeros_like(centre_root), atol=1e-5)  # root-relative
    assert 0.15 < float(batch["scale"].mean()) < 0.4  # body scale: mean segment length, metres
    assert torch.allclose(batch["true"][..., 2] - batch["x"][..., 2], batch["dz"], atol=1e-5)


def test_a_few_steps_lower_the_loss(small_shards):
    index, paths = index_and_paths(small_shards)
    torch.manual_seed(0)
    batch = next(iter(WindowStream(paths, index, 11, 64, shuffle=True, seed=2)))
    model = DepthRefiner(ModelConfig.from_dict({**TINY_MODEL, "num_markers": 63}))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    idx = marker_tensors(index, torch.device("cpu"))
    first = total_loss(model(batch["x"]), batch, idx, DEFAULT_WEIGHTS)[0].item()
    for _ in range(40):
        loss, _ = total_loss(model(batch["x"]), batch, idx, DEFAULT_WEIGHTS)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first


def test_checkpoint_resume_matches_an_uninterrupted_run(small_shards, tmp_path):
    common = dict(
        manifest_path=str(small_shards),
        markerset_path=OPENCAP,
        model_cfg=TINY_MODEL,
        train_cfg={**TINY_TRAIN, "epochs": 2},
    )
    straight = train(**common, run_dir=str(tmp_path / "straight"))
    first = train(**common, run_dir=str(tmp_path / "resumed"), stop_after_epochs=1)  # interrupted after epoch 1
    ckpt = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    assert ckpt["epoch"] == 1 and ckpt["step"] == first["steps"] == straight["steps"] // 2
    for key in ("model", "optimizer", "scaler", "step", "epoch", "config", "metrics", "git_revision"):
        assert key in ckpt
    resumed = train(**common, run_dir=str(tmp_path / "resumed"))
    assert resumed["steps"] == straight["steps"] and resumed["epochs"] == 2
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    assert a["config"] == b["config"]
    for k in a["model"]:  # same data order, schedule and RNG: the same weights
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    changed = train(
        **{**common, "train_cfg": {**TINY_TRAIN, "epochs": 3}}, run_dir=str(tmp_path / "resumed"), stop_after_epochs=1
    )
    assert changed["steps"] == straight["steps"] // 2  # another config: started afresh, not resumed


def test_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100) == pytest.approx(0.05)
    assert lr_factor(55, 10, 100) == pytest.approx(0.05 + 0.95 * 0.5)


def test_marker_set_mismatch_is_refused(small_shards, tmp_path):
    with pytest.raises(ValueError, match=r"marker list \(63 markers\) differs from marker set 'video_keypoints'"):
        train(
            manifest_path=str(small_shards),
            markerset_path=str(REPO / "config/markersets/video_keypoints.yaml"),
            model_cfg=TINY_MODEL,
            train_cfg=TINY_TRAIN,
            run_dir=str(tmp_path),
        )
