"""Training on real shards: the loss falls, checkpoints resume exactly, bad inputs are named."""

import json
import subprocess
import sys
import time

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


def test_changed_shards_are_trained_on_afresh(data_dir, tmp_path):
    """Resume checks the data too: after the shards change (same paths, more noise), a
    finished last.pt must not be resumed for 0 epochs with the old model."""
    from conftest import SMALL_SPLIT

    from depthrefine.markers.stages import build_shard_set

    def shards(noise_mm):
        return build_shard_set(
            data_dir,
            SMALL_SPLIT,
            tmp_path / "set",
            seed=5,
            markerset_path=OPENCAP,
            corruption={"variants": 2, "noise_mm": noise_mm},
        )

    common = dict(markerset_path=OPENCAP, model_cfg=TINY_MODEL, train_cfg=TINY_TRAIN, run_dir=str(tmp_path / "run"))
    first = train(manifest_path=str(shards([10, 30])), **common)
    old = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    again = train(manifest_path=str(shards([40, 90])), **common)
    new = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert again["epochs"] == first["epochs"] == 1 and again["steps"] == first["steps"] > 0
    assert set(new["config"]["data"]) == set(old["config"]["data"])  # the same shard files …
    assert new["config"]["data"] != old["config"]["data"]  # … with other contents
    assert any(not torch.equal(new["model"][k], old["model"][k]) for k in old["model"])  # retrained


def test_a_second_trainer_on_the_same_run_folder_is_refused(small_shards, tmp_path):
    """While one trainer writes run/, another (say, after snakemake --unlock with an orphan
    still running) must stop with a clear error instead of resuming its last.pt."""
    from depthrefine.model.guard import RunFolderBusy, RunLock

    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from depthrefine.model.guard import RunLock\n"
            "with RunLock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=rf"{run} is being trained by another process \(pid {holder.pid} "):
            train(
                manifest_path=str(small_shards),
                markerset_path=OPENCAP,
                model_cfg=TINY_MODEL,
                train_cfg=TINY_TRAIN,
                run_dir=str(run),
            )
        assert not (run / "last.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run):  # the kernel dropped the lock with the killed holder
        pass


def test_the_trainer_stops_when_the_workflow_that_started_it_is_killed(small_shards, tmp_path):
    """kill -9 of snakemake leaves its jobs running; the training script watches its
    ancestors up to the snakemake process and stops, so no orphan keeps writing run/ — at
    once, even when it was started with SIGINT ignored (then the interrupt did nothing, and a
    run that ended within the grace period wrote outputs Snakemake later found incomplete)."""
    trainer = tmp_path / "trainer.py"
    from depthrefine.model.guard import RunLock

    trainer.write_text(
        "import sys, json\n"
        "from depthrefine.logs import setup_logging\n"
        "from depthrefine.model.guard import parent_gone, stop_when_parent_dies\n"
        "from depthrefine.model.train import train\n"
        "setup_logging(sys.argv[2])\n"
        "stop_when_parent_dies(interval_s=0.2, grace_s=120)\n"
        "try:\n"
        "    train(**json.loads(sys.argv[1]))\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', file=open(sys.argv[2] + '.stopped', 'w'))\n"
        "    raise\n"
    )
    args = dict(
        manifest_path=str(small_shards),
        markerset_path=OPENCAP,
        model_cfg=TINY_MODEL,
        train_cfg={**TINY_TRAIN, "epochs": 1000, "patience": 1000},
        run_dir=str(tmp_path / "run"),
    )
    log = tmp_path / "train.log"
    # A stand-in named snakemake that starts the trainer through a shell, as Snakemake does
    # (the shell outlives it, so watching the direct parent alone would not do).
    standin = tmp_path / "snakemake"
    standin.write_text(
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the job\n"
        "subprocess.Popen(['/bin/sh', '-c', '\"$0\" \"$@\"; true', *sys.argv[1:]])\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(standin), sys.executable, str(trainer), json.dumps(args), str(log)])
    try:
        deadline = time.time() + 120
        while not (tmp_path / "run" / "last.pt").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert (tmp_path / "run" / "last.pt").exists(), log.read_text() if log.exists() else "no log"
        parent.kill()
        parent.wait()
        deadline = time.time() + 30  # well inside the 120 s grace: the interrupt itself stopped it
        while time.time() < deadline:
            try:
                with RunLock(tmp_path / "run"):
                    break
            except RuntimeError:
                time.sleep(0.2)
        else:
            pytest.fail("the trainer still holds run/ 30 s after its parent was killed")
        assert "that started this trainer is gone: stopping" in log.read_text()
        assert (tmp_path / "train.log.stopped").exists()  # by KeyboardInterrupt, not the hard exit
    finally:
        parent.kill()
        subprocess.run(["pkill", "-9", "-f", str(trainer)], check=False)


def test_source_weights_set_the_share_of_windows_drawn(small_shards):
    """Two sources (the small set's train shards split in two by name): weight 1 against 0.25
    draws every window of the first and about a quarter of the second; weight 0 none."""
    from depthrefine.model.dataset import count_windows, source_keep

    manifest = json.loads(small_shards.read_text())
    train_entries = [e for e in manifest["shards"] if e["split"] == "train"]
    for k, e in enumerate(train_entries):
        e["source"] = "a" if k % 2 == 0 else "b"
    keep = source_keep(manifest, {"a": 1.0, "b": 0.25})
    assert {keep[e["path"]] for e in train_entries} == {1.0, 0.25}
    index, _ = index_and_paths(small_shards)

    def drawn(paths, keep_list):
        stream = WindowStream(paths, index, 11, 64, shuffle=True, seed=4, keep=keep_list)
        return sum(len(b["x"]) for b in stream)

    a = [e["path"] for e in train_entries if e["source"] == "a"]
    b = [e["path"] for e in train_entries if e["source"] == "b"]
    full_a, full_b = drawn(a, None), drawn(b, None)
    assert drawn(a, [1.0] * len(a)) == full_a  # weight 1: every window, no random draw
    sd = (full_b * 0.25 * 0.75) ** 0.5  # binomial: each window drawn with probability 0.25
    assert abs(drawn(b, [0.25] * len(b)) - 0.25 * full_b) < 3 * sd
    assert drawn(b, [0.0] * len(b)) == 0

    def count(source):
        return count_windows({"shards": [e for e in train_entries if e["source"] == source]}, "train", 1)

    assert count_windows(manifest, "train", 1, keep) == pytest.approx(count("a") + 0.25 * count("b"), abs=1)
    with pytest.raises(ValueError, match=r"source weights name \['c'\], which the shard set does not hold"):
        source_keep(manifest, {"c": 1.0})
