"""The SLURM profile, for real: a one-node cluster on this machine runs a small workflow (local
CMU mirror → shards → tiny training → one video report) submitted through
``--workflow-profile profiles/slurm``; every cluster job must have gone through sbatch and the
training job must have carried the GPU request (checked on the controller: the test node has a
GPU GRES)."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from slurm_cluster import missing_requirements, slurm_cluster
from workflow_helpers import make_workdir

pytestmark = pytest.mark.slow
TARGET = "results/eval/walk-lab-cam01.html"
LOCAL_RULES = {"shard_set"}  # bookkeeping: runs on the submitting machine


def overrides(data_dir, tmp):
    (tmp / "videos").mkdir()
    os.symlink(data_dir / "videos" / "walk-lab-cam01.mp4", tmp / "videos" / "walk-lab-cam01.mp4")
    return {
        "sources": {
            "cmu": {
                "source": str(data_dir),
                "include": [
                    "cmu-bvh/actions/train_walking_1.bvh",
                    "cmu-bvh/actions/train_walking_2.bvh",
                    "cmu-bvh/actions/train_running_1.bvh",
                    "cmu-bvh/actions/test_walking_1.bvh",
                ],
            }
        },
        "split": {"val_patterns": ["cmu-bvh/actions/train_walking_2"]},
        "shards": {"batch_trials": 2},  # 4 trials → 2 data jobs, not 12 per-trial ones
        "videos_dir": str(tmp / "videos"),
        "markers_dir": str(tmp / "markers"),
        "pose_model": str(data_dir.parent / "models" / "pose_landmarker_full.task"),
        "train": {"epochs": 1, "max_windows_per_epoch": 1000},
    }


def profile_run(workdir, env, *args, timeout=1200):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--workflow-profile",
        "profiles/slurm",
        "--configfile",
        "config/config.yaml",
        "test.yaml",
        "--nocolor",
        *args,
    ]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def dry_run_resources(text):
    """rule → list of the 'resources:' lines of its jobs in a dry run."""
    out = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?(?:checkpoint|rule) )", text):
        rule = re.search(r"^(?:local)?(?:checkpoint|rule) (\w+):", block, re.M)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and res:
            out.setdefault(rule.group(1), []).append(res.group(1))
    return out


def test_every_rule_declares_its_requests_or_is_local():
    """Honest cluster requests: a rule that runs as a cluster job states threads, mem_mb and
    runtime; bookkeeping and target rules are localrules."""
    rules = []
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")) + [REPO / "Snakefile"]:
        for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", path.read_text(), re.M):
            name, body = m.groups()
            rules.append(name)
            if "localrule: True" not in body:
                assert "threads:" in body and "mem_mb=" in body and "runtime=" in body, f"{path.name}: rule {name}"
    assert {
        "acquire_source",
        "shard_batch",
        "train_model",
        "heldout_report",
        "recording_markers",
        "refine_recording",
        "recording_report",
    } <= set(rules)


def test_dry_run_with_the_profile_shows_every_rules_requests(tmp_path, data_dir):
    workdir = make_workdir(tmp_path / "wf", overrides(data_dir, tmp_path))
    result = profile_run(workdir, os.environ, "-n", TARGET, "train")
    assert result.returncode == 0, result.stderr[-3000:]
    res = dry_run_resources(result.stdout + result.stderr)
    assert {
        "acquire_source",
        "train_model",
        "recording_markers",
        "refine_recording",
        "recording_report",
        "heldout_report",
    } <= set(res)
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    default = REPO / "profiles/default/config.yaml"  # loaded automatically: never an executor there
    assert not default.exists() or "executor" not in (yaml.safe_load(default.read_text()) or {})
    for rule, lines in res.items():
        for line in lines:
            assert "runtime=" in line and "mem_mb=" in line, (rule, line)
            partition = "gpu" if rule == "train_model" else "cpu"
            assert f"slurm_partition={partition}" in line, (rule, line)
    train = res["train_model"][0]
    assert "gpu=1" in train and "mem_mb=32000" in train and "runtime=720" in train


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = missing_requirements()
    if why:
        if os.environ.get("DEPTHREFINE_REQUIRE_SLURM"):
            pytest.fail(f"the SLURM test is required here (DEPTHREFINE_REQUIRE_SLURM) but {why}")
        pytest.skip(why)
    root = tmp_path_factory.mktemp("slurm")
    with slurm_cluster(root) as env:
        yield root, env


def test_a_small_workflow_runs_through_sbatch(cluster, tmp_path, data_dir):
    root, env = cluster
    workdir = make_workdir(tmp_path / "wf", overrides(data_dir, tmp_path))
    # Without accounting (no slurmdbd), sacct refuses: job status comes from squeue.
    result = profile_run(
        workdir,
        env,
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-keep-successful-logs",
        "--slurm-init-seconds-before-status-checks",
        "5",
        TARGET,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    assert (workdir / TARGET).is_file()

    # Every job of the run: Snakemake's own record of rule and SLURM job id …
    submitted = {int(j): int(s) for j, s in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)}
    executed = re.findall(r"^(?:local)?(?:checkpoint|rule) (\w+):\n(?:.*\n)*?\s+jobid: (\d+)", log, re.M)
    assert executed, log[-3000:]
    for rule, jobid in executed:
        if rule in LOCAL_RULES:
            assert int(jobid) not in submitted, rule
        else:
            assert int(jobid) in submitted, f"{rule} (job {jobid}) did not go through sbatch"
    cluster_rules = {rule for rule, _ in executed if rule not in LOCAL_RULES}
    assert {
        "acquire_source",
        "shard_batch",
        "train_model",
        "recording_markers",
        "refine_recording",
        "recording_report",
    } <= cluster_rules
    # The data stages go to the cluster in batches: one submission per batch of trials.
    batches = sorted(p.name for p in (workdir / "results/shards/blazepose/batches/cmu").iterdir())
    assert 1 <= len(batches) <= 2
    assert sum(rule == "shard_batch" for rule, _ in executed) == len(batches)
    assert sum(rule in ("acquire_source", "shard_batch") for rule, _ in executed) == 1 + len(batches)
    # … matches the controller's: each was a batch submission it accepted and ran to completion …
    controller = (root / "log" / "slurmctld.log").read_text()
    accepted = {int(i) for i in re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", controller)}
    done = {int(i) for i in re.findall(r"_job_complete: JobId=(\d+) done", controller)}
    assert set(submitted.values()) <= accepted and set(submitted.values()) <= done
    # … and each cluster job's Slurm log, named by its job id, is the rule's own.
    slurm_logs = list((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert {int(p.stem) for p in slurm_logs} >= set(submitted.values())
    assert (workdir / "logs/train_model/blazepose.log").is_file()

    # The training job asked for (and got) a GPU on the GPU partition.
    train_ids = [submitted[int(j)] for rule, j in executed if rule == "train_model"]
    assert len(train_ids) == 1
    job = subprocess.run(["scontrol", "show", "job", str(train_ids[0])], capture_output=True, text=True, env=env).stdout
    assert "Partition=gpu" in job and re.search(r"TresPerJob=gres[:/]gpu[:=]1", job), job
    other = next(submitted[int(j)] for rule, j in executed if rule == "recording_report")
    job = subprocess.run(["scontrol", "show", "job", str(other)], capture_output=True, text=True, env=env).stdout
    assert "Partition=cpu" in job and not re.search(r"gres[:/]gpu", job), job
    report = json.loads((workdir / "results/eval/walk-lab-cam01.json").read_text())
    assert report["frames"] == 100
