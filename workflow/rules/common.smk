# Config validation, wildcard constraints and every input function.
import functools
import os
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.utils import validate

# The logic lives in src/depthrefine: use this checkout's copy (the scripts do the same,
# so --sdm conda environments need only the third-party packages).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from depthrefine.mocap.acquire import local_path, read_manifest, select_files, source_kind
from depthrefine.capture.recording import MARKER_FILE_SUFFIXES
from depthrefine.markers.markersets import load_markerset
from depthrefine.capture.sources import (
    find_recordings,
    marker_file_markerset,
    pose_model_target,
)
from depthrefine.markers.batch import assign_batches
from depthrefine.markers.split import assign_splits
from depthrefine.capture.pose import VIDEO_SUFFIXES
import json

import yaml

from depthrefine.multiview.session import PAIR_SEPARATOR, find_sessions

validate(config, schema="../schemas/config.schema.yaml")


def _check_ranges(section, keys):
    for key in keys:
        lo, hi = config[section][key]
        if lo > hi:
            raise ValueError(
                f"config {section}.{key} = [{lo}, {hi}]: the first value must not exceed the second"
            )


_check_ranges("cmu", ["fps_range"])
_check_ranges(
    "corruption",
    [
        "azimuth_deg",
        "elevation_deg",
        "distance_m",
        "noise_mm",
        "distal_gain",
        "flip_duration_s",
    ],
)
if (
    config["corruption"]["body_correlation"] ** 2
    + config["corruption"]["segment_correlation"] ** 2
    > 1
):
    raise ValueError(
        "config corruption: body_correlation² + segment_correlation² must not exceed 1"
    )

CMU_FILES = "resources/cmu/files"
CMU_MANIFEST = "resources/cmu/manifest.tsv"


def _markerset_names():
    """Config key → marker-set name for every set the config names (training, video, marker
    files); two files may not share a name, as the name is the results folder."""
    names, files = {}, {}
    for key in ("markerset", "video_markerset", "trc_markerset"):
        name = load_markerset(config[key]).name
        if files.get(name, config[key]) != config[key]:
            raise ValueError(
                f"config {key}: marker set name {name!r} ({config[key]}) is already used by {files[name]}"
            )
        names[key], files[name] = name, config[key]
    return names


MARKERSET_NAMES = _markerset_names()
MARKERSETS = {name: config[key] for key, name in MARKERSET_NAMES.items()}  # name → file
TRAIN_MARKERSET = MARKERSET_NAMES["markerset"]


wildcard_constraints:
    batch=r"b\d+",
    markerset="|".join(MARKERSETS),


def cmu_source_files(wildcards):
    """For a local mirror, its matching files: an edited file re-runs the acquisition."""
    cmu = config["cmu"]
    if source_kind(cmu["source"], cmu["source_type"]) != "dir":
        return []
    root = local_path(cmu["source"])
    return (
        [str(p) for p in select_files(root, cmu["include"], cmu["exclude"])]
        if root.is_dir()
        else []
    )


@functools.cache
def _acquired(manifest, stamp):
    """(trial → relative path, trial → split, batch → trials) of one manifest version;
    cached, as every batch job's input functions ask (stamp: the manifest's mtime)."""
    rows = read_manifest(manifest)
    s = config["split"]
    splits = assign_splits(
        [row.trial for row in rows],
        by=s["by"],
        val_fraction=s["val_fraction"],
        test_fraction=s["test_fraction"],
        seed=config["seed"],
        subject_pattern=s["subject_pattern"],
        test_patterns=s["test_patterns"],
        val_patterns=s["val_patterns"],
    )
    batches = assign_batches(list(splits), config["shards"]["batch_trials"])
    return {row.trial: row.path for row in rows}, splits, batches


def acquired():
    """The acquisition's trials (waits for the checkpoint)."""
    manifest = checkpoints.acquire_cmu.get().output.manifest
    return _acquired(manifest, os.stat(manifest).st_mtime_ns)


def trial_splits():
    return acquired()[1]


def _batch(wildcards):
    batches = acquired()[2]
    if wildcards.batch not in batches:
        raise ValueError(f"no data batch {wildcards.batch!r} (there are {len(batches)})")
    return batches[wildcards.batch]


def batch_bvh_files(wildcards):
    return [t["bvh"] for t in batch_trials(wildcards)]


def batch_trials(wildcards):
    """The batch's trials with their file, name in the shards and split (a job parameter, so
    that a trial moving to another split or batch re-runs the batch)."""
    paths, splits, _ = acquired()
    return [
        {"trial": t, "bvh": f"{CMU_FILES}/{paths[t]}", "source": paths[t], "split": splits[t]}
        for t in _batch(wildcards)
    ]


def markerset_file(wildcards):
    return MARKERSETS[wildcards.markerset]


def markerset_files(wildcards):
    """The marker-set file and the files it includes: editing either re-runs the markers."""
    return _markerset_files(wildcards.markerset)


@functools.cache
def _markerset_files(name):
    path = Path(MARKERSETS[name])
    files = [str(path)]
    load_markerset(path)  # fail early, naming the file, if it is malformed
    while True:
        parent = (yaml.safe_load(path.read_text()) or {}).get("include")
        if not parent:
            return files
        path = path.parent / parent
        files.append(str(path))


def skeleton_map_file(wildcards):
    """The skeleton map whose segment-length check the batches run (an edit re-runs them)."""
    path = config["kinematics"]["skeleton_map"]
    return [path] if path else []


def all_batches(wildcards):
    return [f"results/shards/{wildcards.markerset}/batches/{b}" for b in acquired()[2]]


def split_assignment(wildcards):
    return trial_splits()


def shard_set_config(wildcards):
    """The config values the shards depend on, recorded in their manifest."""
    keys = ("cmu", "fps", "kinematics", "corruption", "split", "seed")  # not shards.batch_trials: no effect on them
    return {k: config[k] for k in keys} | {"markerset": MARKERSETS[wildcards.markerset]}


def shards_root(wildcards):
    return f"results/shards/{wildcards.markerset}"


def run_dir(wildcards):
    return f"results/model/{wildcards.markerset}/run"


def final_outputs():
    """What `all` and `train` build: the held-out report of the training marker set's model,
    and the model itself. The model is a target on purpose: an interrupted retrain deletes it,
    and Snakemake re-makes a missing file only when a target needs it (snakemake#1978), so
    the report must not be the only target."""
    return [
        "results/eval/heldout.html",
        "results/eval/heldout.json",
        f"results/model/{TRAIN_MARKERSET}/best.pt",
        f"results/model/{TRAIN_MARKERSET}/metrics.json",
    ]


# ---- recordings (videos and marker files), workflow/rules/recordings.smk ----

RESERVED_NAMES = ("heldout", "index", "realval")  # results/eval/ pages of their own


# The lookahead ends at the dot: the wildcard is followed by its suffix (".html"), so a `$`
# there never matched and `heldout` reached the recording rules' input functions.
wildcard_constraints:
    video=r"(?!(?:heldout|index|realval)\.)[^/]+",
    session=r"[^/@]+",
    camera=r"[^/@]+",
    person=r"[^/@]+",


def recordings():
    return find_recordings(
        config["videos_dir"],
        config["markers_dir"],
        VIDEO_SUFFIXES,
        MARKER_FILE_SUFFIXES,
        RESERVED_NAMES,
    )


def recording(wildcards):
    found = recordings()
    if wildcards.video not in found:
        raise ValueError(
            f"no recording named {wildcards.video!r}: put {wildcards.video}.mp4 (.mov, .avi) in "
            f"{config['videos_dir']}/ or {wildcards.video}.trc (.parquet) in {config['markers_dir']}/"
        )
    return found[wildcards.video]


def is_video(path):
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def recording_markerset(wildcards):
    """Name of the marker set the recording's markers come in (picks the model)."""
    if PAIR_SEPARATOR in wildcards.video:  # a multi-camera session's camera × person pair
        return MARKERSET_NAMES["video_markerset"]
    path = recording(wildcards)
    if is_video(path):
        return MARKERSET_NAMES["video_markerset"]
    if path.lower().endswith(".parquet"):
        return marker_file_markerset(path, MARKERSETS)
    return MARKERSET_NAMES["trc_markerset"]


POSE_MODEL = pose_model_target(config["pose_model"])


def recording_inputs(wildcards):
    path = recording(wildcards)
    inputs = {
        "recording": path,
        "markerset": MARKERSETS[recording_markerset(wildcards)],
    }
    if is_video(path):
        inputs["pose_model"] = POSE_MODEL
    return inputs


def recording_model(wildcards):
    return f"results/model/{recording_markerset(wildcards)}/best.pt"


def recording_markerset_file(wildcards):
    return MARKERSETS[recording_markerset(wildcards)]


def recording_report_inputs(wildcards):
    inputs = {
        "refined": f"results/refined/{wildcards.video}.parquet",
        "frame": f"results/markers/{wildcards.video}.png",
        "markerset": recording_markerset_file(wildcards),
    }
    if PAIR_SEPARATOR in wildcards.video:
        inputs["reference"] = f"results/reference_camera/{wildcards.video}.parquet"
        inputs["code"] = package_code("evaluation/realval.py", "evaluation/recording_report.py")
    return inputs


def recording_reports(wildcards):
    return [f"results/eval/{name}.json" for name in sorted(recordings())]


def recording_models(wildcards):
    """The model of every recording's marker set (see final_outputs for why it is a target)."""
    names = {recording_markerset(SimpleNamespace(video=v)) for v in recordings()}
    return [f"results/model/{name}/best.pt" for name in sorted(names)]


# ---- real multi-camera validation, workflow/rules/multiview.smk ----


def package_code(*parts):
    """The package's source files under src/depthrefine/<part> (a folder or a .py file), as
    inputs, so that a rule re-runs when the code it calls changes."""
    root = Path(os.path.relpath(Path(workflow.basedir) / "src" / "depthrefine"))  # relative: a moved checkout is not a change
    files = []
    for part in parts:
        path = root / part
        files += sorted(str(p) for p in path.glob("*.py")) if path.is_dir() else [str(path)]
    return files


def sessions():
    return find_sessions(config["multiview_dir"])


def session(wildcards):
    found = sessions()
    if wildcards.session not in found:
        raise ValueError(
            f"no multi-camera session {wildcards.session!r} in {config['multiview_dir']}/ "
            f"(found: {', '.join(found) or 'none'})"
        )
    return found[wildcards.session]


def session_video(wildcards):
    videos = session(wildcards)[1]
    if wildcards.camera not in videos:
        raise ValueError(f"session {wildcards.session}: no video {wildcards.camera} (has {', '.join(videos)})")
    return str(videos[wildcards.camera])


def session_reference_inputs(wildcards):
    calibration, videos = session(wildcards)
    return {
        "calibration": str(calibration),
        "videos": [str(v) for v in videos.values()],
        "poses": [f"results/multiview/{wildcards.session}/poses/{c}.npz" for c in videos],
        "markerset": config["video_markerset"],
        "code": package_code("multiview", "capture/pose.py"),
    }


def realval_qc(wildcards):
    found = sessions()
    if not found:
        raise ValueError(
            f"realval: no multi-camera session in {config['multiview_dir']}/ (config multiview_dir): "
            "each subfolder needs ≥ 2 synchronised videos and a .qca.txt or .toml calibration"
        )
    return [f"results/reference/{s}" for s in found]


def realval_reports(wildcards):
    """The report of every evaluated pair, known once each session's reference is built."""
    out = []
    for s in sessions():
        folder = checkpoints.multiview_reference.get(session=s).output[0]
        pairs = json.loads((Path(folder) / "pairs.json").read_text())
        out += [f"results/eval/{p['recording']}.json" for p in pairs if p["evaluated"]]
    return out
