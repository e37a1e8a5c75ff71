"""Batched data jobs: shards independent of the batch size, bad trials named or skipped."""

import json
import re
from pathlib import Path

import pytest
from conftest import REPO

from depthrefine.errors import DataError
from depthrefine.markers.batch import assign_batches, shard_batch_stage
from depthrefine.markers.stages import repo_relative, shard_manifest
from depthrefine.settings import batch_kinematics, config_section, defaults, source_settings

TRIALS = {
    "cmu-bvh/actions/train_walking_1": "train",
    "cmu-bvh/actions/train_running_2": "train",
    "cmu-bvh/actions/train_walking_2": "val",
    "cmu-bvh/actions/test_walking_1": "test",
}


def run_batches(root: Path, bvh_root: Path, trials: dict, batch_trials: int, **kw) -> dict:
    config = defaults()
    folders = []
    for name, members in assign_batches(list(trials), batch_trials).items():
        folder = root / "batches" / name
        shard_batch_stage(
            [
                {"trial": t, "bvh": str(bvh_root / f"{t}.bvh"), "source": f"{t}.bvh", "split": trials[t]}
                for t in members
            ],
            str(folder),
            markerset_path=str(REPO / "config/markersets/opencap.yaml"),
            fps=config["fps"],
            kinematics=repo_relative(batch_kinematics(source_settings(), config["kinematics"])),
            corruption=config_section("corruption", {"variants": 2}),
            seed=7,
            row_group_frames=4096,
            **kw,
        )
        folders.append(str(folder))
    return shard_manifest(folders, str(root / "manifest.json"), shards_root=str(root), splits=trials, config={})


def by_trial(manifest: dict) -> dict:
    return {re.sub(r"^.*/batches/b\d+/", "", e["path"]): e for e in manifest["shards"]}


def test_batch_assignment_is_stable_and_covers_every_trial():
    trials = [f"s{i:02d}/t{j}" for i in range(20) for j in range(5)]
    batches = assign_batches(trials, 10)
    assert len(batches) <= 10 and sorted(t for b in batches.values() for t in b) == sorted(trials)
    assert assign_batches(list(reversed(trials)), 10) == batches  # order of listing does not matter
    assert list(assign_batches(trials, 1000)) == ["b000"]


def test_batch_size_1_and_50_give_byte_identical_shards(tmp_path, data_dir):
    one = run_batches(tmp_path / "one", data_dir, TRIALS, 1)
    fifty = run_batches(tmp_path / "fifty", data_dir, TRIALS, 50)
    assert len({Path(e["path"]).parent.parent for e in one["shards"]}) > 1  # really several batches
    a, b = by_trial(one), by_trial(fifty)
    assert sorted(a) == sorted(f"{s}/{t}.parquet" for t, s in TRIALS.items())
    for key in a:
        assert Path(a[key]["path"]).read_bytes() == Path(b[key]["path"]).read_bytes(), key
        assert a[key]["sha256"] == b[key]["sha256"] and a[key]["rows"] == b[key]["rows"]
    assert one["splits"] == fifty["splits"] and one["markers"] == fifty["markers"]


@pytest.fixture
def mirror_with_bad_trials(tmp_path, data_dir):
    import shutil

    root = tmp_path / "mirror"
    for t in TRIALS:
        (root / t).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / f"{t}.bvh", root / f"{t}.bvh")
    text = (data_dir / "cmu-bvh/actions/test_walking_1.bvh").read_text()
    (root / "cmu-bvh/actions/other_skeleton.bvh").write_text(text.replace("LeftToeBase", "LeftToe"))
    lines = text.splitlines()
    head = lines[: lines.index("MOTION") + 3]
    (root / "cmu-bvh/actions/too_short.bvh").write_text(
        "\n".join(head[:-2] + ["Frames: 3", head[-1]] + lines[len(head) : len(head) + 3]) + "\n"
    )
    trials = {**TRIALS, "cmu-bvh/actions/other_skeleton": "train", "cmu-bvh/actions/too_short": "train"}
    return root, trials


def test_a_bad_trial_in_a_batch_is_named_or_skipped(tmp_path, mirror_with_bad_trials):
    root, trials = mirror_with_bad_trials
    with pytest.raises(DataError, match=r"(other_skeleton|too_short)\.bvh"):
        run_batches(tmp_path / "strict", root, trials, 50)
    manifest = run_batches(tmp_path / "lenient", root, trials, 50, on_bad_file="skip")
    skipped = {s["trial"]: s["reason"] for s in manifest["skipped"]}
    assert set(skipped) == {"cmu-bvh/actions/other_skeleton", "cmu-bvh/actions/too_short"}
    assert "names joints ['LeftToeBase'] that the file does not have" in skipped["cmu-bvh/actions/other_skeleton"]
    assert "expected at least" in skipped["cmu-bvh/actions/too_short"]
    assert len(manifest["shards"]) == len(TRIALS)
    index = json.loads(next((tmp_path / "lenient" / "batches").iterdir()).joinpath("index.json").read_text())
    assert len(index["skipped"]) == 2


def test_a_batch_index_naming_a_missing_shard_is_refused(tmp_path):
    """A batch folder whose shards are gone (deleted by hand, or by an older manifest step) is
    named, with what to do, instead of a manifest that training would fail on."""
    from depthrefine.markers.batch import INDEX_NAME

    folder = tmp_path / "batches" / "cmu" / "b000"
    folder.mkdir(parents=True)
    shard = {"path": str(folder / "train" / "x.parquet"), "split": "train", "rows": 1, "clips": 1, "sha256": "0"}
    index = {"skipped": [], "shards": [shard], "markers": ["a"], "segments": [], "fps": 60.0}
    (folder / INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(FileNotFoundError, match=r"b000: its index lists 1 shard\(s\) that are gone.*delete the folder"):
        shard_manifest([str(folder)], str(tmp_path / "manifest.json"), shards_root=str(tmp_path), splits={}, config={})
