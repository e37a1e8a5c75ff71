"""End to end: `snakemake shards` on every CMU BVH file in ../shared/data and the .test
selections of Bandai-Namco (BVH) and HDM05 (ASF/AMC), then `train`, and re-run behaviour."""

import glob
import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from workflow_helpers import make_workdir, planned_jobs, snakemake

from depthrefine.markers.stages import corruption_stage
from depthrefine.tables import column_xyz

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    workdir = make_workdir(tmp_path_factory.mktemp("wf"), {}, sources=None)
    result = snakemake(workdir, "shards")
    return workdir, result


@pytest.fixture(scope="module")
def manifest(run):
    manifest = json.loads((run[0] / "results" / "shards" / "opencap" / "manifest.json").read_text())
    for e in manifest["shards"]:
        e["_abs"] = str(run[0] / e["path"])
    return manifest


def all_bvh(data_dir):
    return sorted(
        os.path.relpath(p, data_dir)[:-4] for p in glob.glob(str(data_dir / "cmu-*" / "**" / "*.bvh"), recursive=True)
    )


def test_every_bvh_file_becomes_one_shard(run, manifest, data_dir):
    trials = all_bvh(data_dir)
    assert len(trials) == 1 + 96 + 6
    cmu = sorted(t for t in manifest["trial_splits"] if not t.startswith(("bandai_namco/", "hdm05/")))
    assert cmu == trials  # CMU trial ids stay the file paths (trial_prefix "")
    shard_trials = sorted(e["path"].split("/", 7)[7][:-8] for e in manifest["shards"])  # …/batches/source/bNNN/split/
    assert shard_trials == sorted(manifest["trial_splits"])
    for e in manifest["shards"]:
        assert (run[0] / e["path"]).is_file() and e["clips"] == 2


def test_each_source_is_summarised(manifest):
    """The .test selections: 30 Bandai-Namco walks (15 styles, 'tired' held out), 17 HDM05
    jogs of 5 actors (actor 'tr' held out), each with its own segment lengths."""
    sources = manifest["sources"]
    assert set(sources) == {"cmu", "bandai_namco", "hdm05"} and not manifest["skipped"]
    assert sum(sources["bandai_namco"]["trials"].values()) == 30 and sources["bandai_namco"]["trials"]["test"] == 2
    assert sum(sources["hdm05"]["trials"].values()) == 17 and sources["hdm05"]["trials"]["test"] >= 1
    assert sources["cmu"]["trials"]["test"] == 24 and 11 < sources["cmu"]["minutes"] < 12.5
    # Bandai-Namco: one skeleton (a spread of zero); HDM05: five actors
    assert sources["bandai_namco"]["segments_m"]["left thigh"] == pytest.approx([0.391, 0.391, 0.391], abs=1e-3)
    lo, hi = sources["hdm05"]["segments_m"]["left thigh"][1:]
    assert 0.35 < lo < hi < 0.47
    splits = manifest["trial_splits"]
    for name, pattern in (("bandai_namco", "_walk_tired_"), ("hdm05", "/tr/")):
        held = {t for t, s in splits.items() if t.startswith(name) and s == "test"}
        assert held and all(pattern in t for t in held)
    by_source = {e["source"] for e in manifest["shards"]}
    assert by_source == set(sources)
    for e in manifest["shards"]:
        source = pq.read_table(e["_abs"], columns=["source"]).column("source")[0].as_py()
        assert source.startswith(e["source"] + "/")  # a row names its source and file


def test_split_is_by_file_and_holds_out_the_benchmark_test_files(manifest):
    splits = manifest["trial_splits"]
    cmu = {t for t in splits if t.startswith("cmu-")}
    assert {t for t in cmu if splits[t] == "test"} == {t for t in cmu if t.startswith("cmu-bvh/actions/test_")}
    assert manifest["splits"]["val"]["shards"] >= 1 and manifest["splits"]["train"]["shards"] > 50
    for e in manifest["shards"]:
        table = pq.read_table(e["_abs"], columns=["split", "trial"])
        assert set(table.column("split").to_pylist()) == {e["split"]} == {splits[table.column("trial")[0].as_py()]}


def world_markers(workdir, trial, tmp_path):
    """The trial's world markers, by the stages the batch job runs (it keeps only the shards)."""
    from depthrefine.markers.stages import markers_stage
    from depthrefine.mocap.stages import kinematics_stage
    from depthrefine.settings import source_settings

    k = source_settings()
    joints, markers = tmp_path / "j.parquet", tmp_path / "m.parquet"
    kinematics_stage(
        str(workdir / f"resources/mocap/cmu/files/{trial}.bvh"),
        str(joints),
        source=f"cmu/{trial}.bvh",
        fps=60,
        unit_m=k["unit_m"],
        drop_first=k["drop_first_frame"],
        min_frames=30,
    )
    markers_stage(str(joints), str(markers), markerset_path=str(workdir / "config/markersets/opencap.yaml"))
    world = pq.read_table(markers)
    return world, world.num_rows


def test_shard_contents_match_the_trial(run, manifest, tmp_path):
    workdir = run[0]
    entry = next(e for e in manifest["shards"] if e["path"].endswith("test_walking_1.parquet"))
    table = pq.read_table(entry["_abs"])
    world, n = world_markers(workdir, "cmu-bvh/actions/test_walking_1", tmp_path)
    assert table.num_rows == 2 * n == entry["rows"]
    assert table.column("clip_id").unique().to_pylist() == [
        "cmu-bvh/actions/test_walking_1#v0",
        "cmu-bvh/actions/test_walking_1#v1",
    ]
    assert table.column("frame").to_numpy()[:n].tolist() == list(range(n))
    assert set(table.column("fps").to_pylist()) == {60.0}
    true = column_xyz(table, "true_xyz")
    # camera frame: pelvis 1.5–15 m in front, the same shape as the world markers (rigid transform)
    assert 1.5 < true[:, 0:20, 2].min() and true[:, :, 2].max() < 15
    w = column_xyz(world, "xyz_m")
    dw = np.linalg.norm(w[:, 1] - w[:, 13], axis=1)
    dc = np.linalg.norm(true[:n, 1] - true[:n, 13], axis=1)
    assert dc == pytest.approx(dw, abs=1e-5)
    pf = pq.ParquetFile(entry["_abs"])
    assert pf.metadata.num_row_groups == 2  # one per clip variant


def test_shards_are_deterministic(run, manifest, tmp_path):
    workdir = run[0]
    entry = next(e for e in manifest["shards"] if e["path"].endswith("train_running_1.parquet"))
    cfg = manifest["config"]
    again = tmp_path / "again.parquet"
    world_markers(workdir, "cmu-bvh/actions/train_running_1", tmp_path)
    corruption_stage(
        str(tmp_path / "m.parquet"),
        str(again),
        trial="cmu-bvh/actions/train_running_1",
        split=entry["split"],
        seed=cfg["seed"],
        corruption=cfg["corruption"],
        row_group_frames=4096,
    )
    assert again.read_bytes() == open(entry["_abs"], "rb").read()


def test_rerun_plans(run):
    workdir = run[0]
    assert planned_jobs(snakemake(workdir, "-n", "shards")) == {}
    n = len(list((workdir / "results/shards/opencap/batches/cmu").iterdir()))
    assert n == 2  # 103 CMU trials, 100 per batch (shards.batch_trials): 2 data jobs, not 309
    n += 2  # one batch each for the 30 Bandai-Namco and 17 HDM05 trials

    expected = {"shard_batch": n, "shard_set": 1, "shards": 1}
    for name, text in (
        ("noise", "corruption:\n  noise_mm: [40, 90]\n"),
        ("markers", "markerset: config/markersets/video_keypoints.yaml\n"),
        ("fps", "fps: 30\n"),
    ):
        changed = workdir / f"{name}.yaml"
        changed.write_text(text)
        assert planned_jobs(snakemake(workdir, "-n", "shards", extra_config=changed)) == expected, name
    assert (workdir / "results/shards/opencap/manifest.json").is_file()  # each marker set keeps its own shards


@pytest.mark.parametrize(
    "override, message",
    [
        ("fps: sixty\n", r"'sixty' is not of type 'number'"),
        ("corruption:\n  noise_mm: [30, 2000]\n", r"2000 is greater than the maximum of 1000"),
        (
            "corruption:\n  azimuth_deg: [60, 10]\n",
            r"corruption\.azimuth_deg = \[60, 10\]: the first value must not exceed",
        ),
        ("sources:\n  cmu:\n    split_by: frame\n", r"'frame' is not one of \['subject', 'file'\]"),
        ("sources:\n  cmu:\n    include: '*.bvh'\n", r"'\*\.bvh' is not of type 'array'"),
        ("sources:\n  cmu:\n    unit: 0.01\n", r"Additional properties are not allowed \('unit' was unexpected\)"),
        ("cmu:\n  include: ['*.bvh']\n", r"config cmu: moved to sources\.cmu"),
        ("joint_angles:\n  subjects: {joey: {height_m: 1.8}}\n", r"config joint_angles\.subjects: moved to subjects"),
        ("corruption:\n  error_model: real\n", r"'real' is not one of \['synthetic', 'fitted', 'mixed'\]"),
        ("multiview:\n  pose_modes: [video]\n", r"multiview\.average_modes \['flip'\]: not among pose_modes"),
        ("realval_compare_sources: [[cmu, vicon]]\n", r"\['vicon'\] are not enabled sources"),
        (
            "corruptoin:\n  noise_mm: [10, 20]\n",
            r"Additional properties are not allowed \('corruptoin' was unexpected\)",
        ),
        (
            "model:\n  window: 12\n",
            r"(?s)12 should not be valid under \{'multipleOf': 2\}.*instance\['model'\]\['window'\]",
        ),
        (
            "sources:\n  cmu:\n    fps_range: [200, 100]\n",
            r"sources\.cmu\.fps_range: the first value must not exceed",
        ),
    ],
)
def test_bad_config_fails_clearly(run, tmp_path, override, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(override)
    result = snakemake(run[0], "-n", "shards", extra_config=bad, check=False)
    assert result.returncode != 0
    assert re.search(message, result.stdout + result.stderr), (result.stdout + result.stderr)[-3000:]


def test_planning_the_training_prints_no_exception(run):
    """The recording rules' wildcard must not match results/eval/heldout.html (it did, and
    every `snakemake train` printed two InputFunctionExceptions while building the DAG)."""
    result = snakemake(run[0], "-n", "train")
    assert "Exception" not in result.stdout + result.stderr


def test_a_wrong_length_unit_fails_naming_the_file(tmp_path, data_dir):
    """unit_m ten times too large: the skeleton map's segment check stops the batch."""
    source = {"source": str(data_dir), "include": ["cmu-bvh/actions/test_walking_1.bvh"], "unit_m": 0.56444}
    workdir = make_workdir(tmp_path, {"sources": {"cmu": source}})
    result = snakemake(workdir, "shards", check=False)
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert re.search(r"test_walking_1\.bvh: implausible left thigh of 4\.\d+ m .*unit_m = 0\.56444", log), log[-2000:]
    assert not (workdir / "results/shards/opencap/manifest.json").exists()
    rule_log = next((workdir / "logs/shard_batch/opencap/cmu").glob("*.log")).read_text()
    assert "ERROR depthrefine: DataError: " in rule_log and "implausible left thigh" in rule_log


def test_unreachable_source_leaves_no_manifest(tmp_path):
    workdir = make_workdir(tmp_path, {"sources": {"cmu": {"source": str(tmp_path / "nowhere")}}})
    result = snakemake(workdir, "resources/mocap/cmu/manifest.tsv", check=False)
    assert result.returncode != 0
    assert re.search(r"sources\.cmu .*local folder .*nowhere does not exist", result.stdout + result.stderr)
    assert not (workdir / "resources/mocap/cmu/manifest.tsv").exists()


def test_an_edited_source_file_rebuilds_only_its_batch(tmp_path, data_dir):
    import shutil

    mirror = tmp_path / "mirror"
    names = ["test_walking_1", "test_running_1", "train_jumping_4", "train_walking_1", "train_running_1"]
    (mirror / "actions").mkdir(parents=True)
    for name in names:
        shutil.copy(data_dir / "cmu-bvh" / "actions" / f"{name}.bvh", mirror / "actions" / f"{name}.bvh")
    workdir = make_workdir(
        tmp_path / "wf",
        {"sources": {"cmu": {"source": str(mirror), "include": ["**/*.bvh"]}}, "shards": {"batch_trials": 2}},
    )
    snakemake(workdir, "shards")
    manifest = json.loads((workdir / "results/shards/opencap/manifest.json").read_text())
    shard = {Path(e["path"]).stem: workdir / e["path"] for e in manifest["shards"]}
    batch_of = {n: shard[n].parts[shard[n].parts.index("batches") + 2] for n in names}
    assert len(set(batch_of.values())) >= 2  # ceil(5 / 2) = 3 hash buckets, so some batch is left alone

    def stamps():
        return {n: shard[n].stat().st_mtime_ns for n in names}

    before = stamps()
    assert planned_jobs(snakemake(workdir, "-n", "shards")) == {}
    edited = mirror / "actions" / "test_running_1.bvh"
    lines = edited.read_text().splitlines()
    lines[-1] = " ".join(f"{float(v) + 0.5:.4f}" for v in lines[-1].split())  # move the last frame
    edited.write_text("\n".join(lines) + "\n")
    result = snakemake(workdir, "shards")
    after = stamps()
    rebuilt = {n for n in names if batch_of[n] == batch_of["test_running_1"]}
    assert {n for n in names if after[n] != before[n]} == rebuilt
    assert "changed: 1 file(s): actions/test_running_1" in (workdir / "logs" / "acquire" / "cmu.log").read_text()
    assert result.returncode == 0


def test_train_runs_the_whole_chain_to_the_heldout_report(run, manifest):
    workdir = run[0]
    snakemake(workdir, "train")
    report = json.loads((workdir / "results/eval/heldout.json").read_text())
    test_trials = {t for t, s in manifest["trial_splits"].items() if s == "test"}
    assert report["test_files"] == len(test_trials) and report["clips"] == 2 * len(test_trials)
    assert set(report["table"]) == {"corrupted", "butterworth_6hz", "savitzky_golay", "learned"}
    assert set(report["by_source"]) == {"cmu", "bandai_namco", "hdm05"}  # one row group per source
    assert report["data"]["sources"] == manifest["sources"]
    corrupted = report["table"]["corrupted"]
    assert 20 < corrupted["depth_error_mm"] < 200 and corrupted["depth_jitter_mm"] > 5  # the corruption is there
    assert report["table"]["butterworth_6hz"]["depth_jitter_mm"] < 0.2 * corrupted["depth_jitter_mm"]
    for key in ("beats_filters_on_depth_error_mm", "beats_filters_on_depth_jitter_mm", "target_bone_cv"):
        assert key in report["checks"]
    html = (workdir / "results/eval/heldout.html").read_text()
    assert '<table id="metrics">' in html and html.count("data:image/png;base64,") == 2
    assert '<table id="by-source">' in html and '<table id="sources">' in html and "hdm05" in html
    refined = sorted((workdir / "results/eval/heldout").rglob("*.parquet"))
    assert len(refined) == len(test_trials)
    table = pq.read_table(refined[0])
    assert table.column_names[-1] == "refined_xyz" and "true_xyz" in table.column_names
    ckpt_meta = json.loads((workdir / "results/model/opencap/metrics.json").read_text())
    assert ckpt_meta["epochs"] == 2 and ckpt_meta["config"]["markers"] == manifest["markers"]
    assert ckpt_meta["config"]["source_weights"] == {"bandai_namco": 1.0, "cmu": 1.0, "hdm05": 1.0}
    assert planned_jobs(snakemake(workdir, "-n", "train")) == {}
    snakemake(workdir, "--report", "report.html", "train")  # the README's report command
    assert "heldout.html" in (workdir / "report.html").read_text(errors="replace")
    weights = workdir / "weights.yaml"
    weights.write_text("loss_weights:\n  smooth: 3.0\n")
    assert planned_jobs(snakemake(workdir, "-n", "train", extra_config=weights)) == {
        "train_model": 1,
        "heldout_report": 1,
        "train": 1,
    }
    weights.write_text("sources:\n  bandai_namco:\n    weight: 0.5\n")  # retrains; the shards stay
    assert planned_jobs(snakemake(workdir, "-n", "train", extra_config=weights)) == {
        "train_model": 1,
        "heldout_report": 1,
        "train": 1,
    }


def test_a_batch_set_aside_and_taken_back_is_still_whole(tmp_path, data_dir):
    """A batch folder outside the current set (another batch count here; a disabled source
    alike) is removed whole, never emptied of its shards: taken back, it is rebuilt."""
    import shutil

    mirror = tmp_path / "mirror"
    (mirror / "actions").mkdir(parents=True)
    for name in ["test_walking_1", "test_running_1", "train_jumping_4", "train_walking_1", "train_running_1"]:
        shutil.copy(data_dir / "cmu-bvh" / "actions" / f"{name}.bvh", mirror / "actions" / f"{name}.bvh")
    cmu = {"cmu": {"source": str(mirror), "include": ["**/*.bvh"]}}
    small = make_workdir(tmp_path / "wf", {"sources": cmu, "shards": {"batch_trials": 2}})
    snakemake(small, "shards")
    one_batch = tmp_path / "one_batch.yaml"
    one_batch.write_text("shards:\n  batch_trials: 100\n")
    snakemake(small, "shards", extra_config=one_batch)
    batches = small / "results/shards/opencap/batches/cmu"
    assert sorted(p.name for p in batches.iterdir()) == ["b000"]  # the others are gone whole
    snakemake(small, "shards")  # batch count 3 again
    manifest = json.loads((small / "results/shards/opencap/manifest.json").read_text())
    assert len(manifest["shards"]) == 5 and all((small / e["path"]).is_file() for e in manifest["shards"])
