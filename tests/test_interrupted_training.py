"""Interrupted training in the workflow: kill -9 of the trainer, then of snakemake itself.

Neither may end in a stale result: after the trainer is killed, the next run retrains and
rebuilds the report (Snakemake re-makes a deleted file only when a target needs it, so the
model is a target); after snakemake is killed, its trainer stops instead of living on as an
orphan, and `--unlock` plus the same command finish the run from last.pt.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workflow_helpers import locomotion_source, make_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.slow


def trainers(workdir: Path) -> list[int]:
    """Pids of the training scripts running in ``workdir``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if b"train_model.py" in cmd and cwd == str(workdir) and not cmd.startswith(b"/bin/"):
            found.append(int(proc.name))
    return found


def start_training(workdir: Path, *configs: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--nocolor", "train"]
    cmd += ["--configfile", "config/config.yaml", "test.yaml", *configs]
    return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_epoch(workdir: Path, proc: subprocess.Popen, after: str) -> None:
    """Until the training log shows two epochs finished after the last line containing ``after``
    (the checkpoint of the first is then written: it is saved after its log line)."""
    log = workdir / "logs/train_model/opencap.log"
    deadline = time.time() + 300
    while time.time() < deadline:
        text = log.read_text() if log.exists() else ""
        if after in text and len(re.findall(r"epoch \d+:", text.rsplit(after, 1)[1])) >= 2 and trainers(workdir):
            return
        if proc.poll() is not None:
            pytest.fail(f"snakemake ended (rc {proc.returncode}) before an epoch was seen:\n{text[-3000:]}")
        time.sleep(0.1)
    pytest.fail("no training epoch within 300 s")


def test_an_interrupted_retrain_is_finished_by_the_next_run(tmp_path, data_dir):
    workdir = make_workdir(tmp_path, locomotion_source(data_dir))
    snakemake(workdir, "train")
    two_epochs = (workdir / "results/eval/heldout.json").read_text()
    (workdir / "six.yaml").write_text("train:\n  epochs: 6\n  max_windows_per_epoch: 12000\n")  # ~10 s epochs

    # 1. kill -9 of the trainer during a retrain with another config
    proc = start_training(workdir, "six.yaml")
    wait_for_epoch(workdir, proc, "starting afresh")
    for pid in trainers(workdir):
        os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=120) != 0
    assert not (workdir / "results/model/opencap/best.pt").exists()  # Snakemake removed the failed job's output
    plan = planned_jobs(snakemake(workdir, "-n", "train", extra_config=workdir / "six.yaml"))
    assert plan.get("train_model") == 1 and plan.get("heldout_report") == 1, plan  # not "Nothing to be done"

    # 2. kill -9 of snakemake itself: its trainer must stop, not keep writing run/
    proc = start_training(workdir, "six.yaml")
    wait_for_epoch(workdir, proc, "resuming from")
    orphans = trainers(workdir)
    assert orphans
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 45
    while trainers(workdir) and time.time() < deadline:
        time.sleep(0.5)
    assert not trainers(workdir), "the trainer outlived the snakemake that started it"
    assert "that started this trainer is gone: stopping" in (workdir / "logs/train_model/opencap.log").read_text()

    # 3. what the user types afterwards (docs/model.md): unlock, then the same command
    snakemake(workdir, "--unlock", extra_config=workdir / "six.yaml")
    snakemake(workdir, "train", extra_config=workdir / "six.yaml")
    metrics = json.loads((workdir / "results/model/opencap/metrics.json").read_text())
    assert metrics["epochs"] == 6 or len(metrics["history"]) == metrics["epochs"] < 6  # done, or stopped early
    assert metrics["config"]["train"]["epochs"] == 6
    assert (workdir / "results/eval/heldout.json").read_text() != two_epochs  # the report is the new model's
    assert "resuming from" in (workdir / "logs/train_model/opencap.log").read_text()
