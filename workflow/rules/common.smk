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

from depthrefine.mocap.acquire import find_asf, local_path, read_manifest, select_files, source_kind
from depthrefine.settings import batch_kinematics as kinematics_of_batch, enabled_sources
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

for _old, _new, _doc in (
    ("cmu", "sources.cmu", "docs/data.md, 'Mocap sources'"),
    ("kinematics.unit_m", "sources.<name>.unit_m", "docs/data.md, 'Mocap sources'"),
    ("joint_angles.subjects", "subjects", "docs/angles.md"),
):
    _section, _, _key = _old.partition(".")
    if _section in config and (not _key or _key in (config[_section] or {})):
        raise ValueError(f"config {_old}: moved to {_new} (see config/config.yaml and {_doc})")
validate(config, schema="../schemas/config.schema.yaml")
SOURCES = enabled_sources(config)  # name → settings, every field filled


def _check_ranges(section, keys):
    for key in keys:
        lo, hi = config[section][key]
        if lo > hi:
            raise ValueError(
                f"config {section}.{key} = [{lo}, {hi}]: the first value must not exceed the second"
            )


for _name, _settings in SOURCES.items():
    if _settings["fps_range"][0] > _settings["fps_range"][1]:
        raise ValueError(f"config sources.{_name}.fps_range: the first value must not exceed the second")
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
_unpooled = sorted(set(config["multiview"]["average_modes"]) - set(config["multiview"]["pose_modes"]))
if _unpooled:
    raise ValueError(
        f"config multiview.average_modes {_unpooled}: not among pose_modes {config['multiview']['pose_modes']}"
    )

MOCAP = "resources/mocap"  # {source}/files/…, {source}/manifest.tsv

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
    subset=r"[A-Za-z0-9_+-]+",
    batch=r"b\d+",
    source="|".join(SOURCES),
    markerset="|".join(MARKERSETS),


def source_settings(wildcards):
    if wildcards.source not in SOURCES:
        raise ValueError(f"no enabled mocap source {wildcards.source!r} (config sources: {', '.join(SOURCES)})")
    return SOURCES[wildcards.source]


ACQUISITION_KEYS = ("source", "source_type", "git_ref", "include", "exclude", "format", "asf", "fps_range",
                    "on_bad_file", "trial_prefix")  # fmt: skip


def acquisition_settings(wildcards):
    """The source's settings its acquisition uses (a weight or split change does not re-fetch)."""
    return {k: source_settings(wildcards)[k] for k in ACQUISITION_KEYS}


def source_files(wildcards):
    """For a local folder or archive file, its matching files (or the archive): an edited
    file re-runs the acquisition."""
    src = source_settings(wildcards)
    kind = source_kind(src["source"], src["source_type"])
    root = local_path(src["source"])
    if kind == "archive" and root.is_file():
        return [str(root)]
    if kind != "dir" or not root.is_dir():
        return []
    return [str(p) for p in select_files(root, src["include"], src["exclude"])]


@functools.cache
def _acquired(manifest, stamp, source):
    """(trial → relative path, trial → split, batch → trials) of one manifest version of one
    source; cached, as every batch job's input functions ask (stamp: the manifest's mtime)."""
    rows = read_manifest(manifest)
    src, s = SOURCES[source], config["split"]
    splits = assign_splits(
        [row.trial for row in rows],
        by=src["split_by"],
        val_fraction=s["val_fraction"],
        test_fraction=s["test_fraction"],
        seed=config["seed"],
        subject_pattern=src["subject_pattern"],
        test_patterns=s["test_patterns"],
        val_patterns=s["val_patterns"],
    )
    batches = assign_batches(list(splits), config["shards"]["batch_trials"])
    return {row.trial: row.path for row in rows}, splits, batches


def acquired(source):
    """One source's acquired trials (waits for its acquisition checkpoint)."""
    manifest = checkpoints.acquire_source.get(source=source).output.manifest
    return _acquired(manifest, os.stat(manifest).st_mtime_ns, source)


def trial_splits():
    """Trial → split over every source (trial ids are unique: each source has its prefix)."""
    out = {}
    for source in SOURCES:
        splits = acquired(source)[1]
        clash = sorted(set(splits) & set(out))
        if clash:
            raise ValueError(f"sources: trial id {clash[0]!r} comes from two sources; give one a trial_prefix")
        out |= splits
    return out


def _batch(wildcards):
    batches = acquired(wildcards.source)[2]
    if wildcards.batch not in batches:
        raise ValueError(f"no data batch {wildcards.batch!r} of source {wildcards.source} (there are {len(batches)})")
    return batches[wildcards.batch]


def batch_motion_files(wildcards):
    """The batch's motion files and the ASFs of its AMCs."""
    return sorted({f for t in batch_trials(wildcards) for f in (t["bvh"], t["asf"]) if f})


def batch_trials(wildcards):
    """The batch's trials with their file (and ASF), name in the shards and split (a job
    parameter, so that a trial moving to another split or batch re-runs the batch)."""
    src = source_settings(wildcards)
    paths, splits, _ = acquired(wildcards.source)
    files = Path(MOCAP) / wildcards.source / "files"
    return [
        {
            "trial": t,
            "bvh": str(files / paths[t]),
            "asf": str(files / find_asf(files, paths[t], src["asf"])) if src["format"] == "asf_amc" else None,
            "source": f"{wildcards.source}/{paths[t]}",
            "split": splits[t],
        }
        for t in _batch(wildcards)
    ]


def batch_kinematics(wildcards):
    """The source's settings the batch's kinematics need."""
    return kinematics_of_batch(source_settings(wildcards), config["kinematics"])


def _subsets():
    """config realval_compare_sources: subset name ('cmu', 'cmu+hdm05') → its sources."""
    out = {}
    for names in config["realval_compare_sources"]:
        unknown = sorted(set(names) - set(SOURCES))
        if unknown:
            raise ValueError(f"config realval_compare_sources: {unknown} are not enabled sources ({', '.join(SOURCES)})")
        out["+".join(names)] = list(names)
    return out


SUBSETS = _subsets()


def subset_weights(wildcards):
    """The source weights of a model trained on a subset: the others weigh 0."""
    if wildcards.subset not in SUBSETS:
        raise ValueError(f"no source subset {wildcards.subset!r} in config realval_compare_sources ({', '.join(SUBSETS)})")
    return {name: (s["weight"] if name in SUBSETS[wildcards.subset] else 0.0) for name, s in SOURCES.items()}


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
    """The source's skeleton map (an edit re-runs its batches)."""
    return source_settings(wildcards)["skeleton_map"]


def all_batches(wildcards):
    return [
        f"results/shards/{wildcards.markerset}/batches/{source}/{b}" for source in SOURCES for b in acquired(source)[2]
    ]


def split_assignment(wildcards):
    return trial_splits()


def shard_set_config(wildcards):
    """The config values the shards depend on, recorded in their manifest."""
    keys = ("fps", "kinematics", "corruption", "split", "seed")  # not shards.batch_trials: no effect on them
    sources = {name: {k: v for k, v in src.items() if k != "weight"} for name, src in SOURCES.items()}  # weights: training only
    return {k: config[k] for k in keys} | {"sources": sources, "markerset": MARKERSETS[wildcards.markerset]}


def shards_root(wildcards):
    return f"results/shards/{wildcards.markerset}"


def run_dir(wildcards):
    return f"results/model/{wildcards.markerset}/run"


def acquisition_manifests():
    return [f"{MOCAP}/{source}/manifest.tsv" for source in SOURCES]


def final_outputs():
    """What `all` and `train` build: the held-out report of the training marker set's model,
    and the model itself. The model is a target on purpose: an interrupted retrain deletes it,
    and Snakemake re-makes a missing file only when a target needs it (snakemake#1978), so
    the report must not be the only target. Each source's acquisition manifest is one for the
    same reason: a source added to the config is otherwise never fetched for an existing
    shard set."""
    return acquisition_manifests() + [
        "results/eval/heldout.html",
        "results/eval/heldout.json",
        f"results/model/{TRAIN_MARKERSET}/best.pt",
        f"results/model/{TRAIN_MARKERSET}/metrics.json",
    ]


# ---- recordings (videos and marker files), workflow/rules/recordings.smk ----

RESERVED_NAMES = ("heldout", "index", "realval", "error_model")  # results/eval/ pages of their own


# The lookahead ends at the dot: the wildcard is followed by its suffix (".html"), so a `$`
# there never matched and `heldout` reached the recording rules' input functions.
wildcard_constraints:
    video=r"(?!(?:heldout|index|realval|error_model)\.)[^/]+",
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
        # the code that makes the report's estimates: a change re-runs every report
        "code": package_code(
            "evaluation/recording_report.py",
            "evaluation/estimates.py",
            "evaluation/angles_report.py",
            "angles/catalogue.py",
            "capture/rays.py",
        ),
    }
    if PAIR_SEPARATOR in wildcards.video:
        inputs["reference"] = f"results/reference_camera/{wildcards.video}.parquet"
        inputs["code"] += package_code("evaluation/realval.py")
    inputs["angles"] = f"results/kinematics/{wildcards.video}"
    return inputs


def joint_angles_inputs(wildcards):
    """The refined recording, its marker set, the reference of a camera × person pair, and the
    code of its captures and of OpenSim's setup (a change re-runs the angles)."""
    inputs = {
        "refined": f"results/refined/{wildcards.video}.parquet",
        "markerset": recording_markerset_file(wildcards),
        "code": package_code("angles", "evaluation/estimates.py", "capture/rays.py"),
        "setup": package_code("angles/opensim_setup/*"),
    }
    if PAIR_SEPARATOR in wildcards.video:
        inputs["reference"] = f"results/reference_camera/{wildcards.video}.parquet"
        inputs["code"] += package_code("multiview/stages.py")
    return inputs


def recording_reports(wildcards):
    return [f"results/eval/{name}.json" for name in sorted(recordings())]


def recording_models(wildcards):
    """The model of every recording's marker set (see final_outputs for why it is a target)."""
    names = {recording_markerset(SimpleNamespace(video=v)) for v in recordings()}
    return [f"results/model/{name}/best.pt" for name in sorted(names)]


# ---- real multi-camera validation, workflow/rules/multiview.smk ----


def package_code(*parts):
    """The package's source files under src/depthrefine/<part> (a folder's .py files, a file, or
    a glob for data files), as inputs, so that a rule re-runs when the code it calls changes."""
    root = Path(os.path.relpath(Path(workflow.basedir) / "src" / "depthrefine"))  # relative: a moved checkout is not a change
    files = []
    for part in parts:
        path = root / part
        if "*" in part:
            files += sorted(str(p) for p in root.glob(part) if p.is_file())
        else:
            files += sorted(str(p) for p in path.glob("*.py")) if path.is_dir() else [str(path)]
    return files


def refine_code():
    """The code that refines a recording (the refiner, the lean step, the bone fit): inputs of
    refine_recording and of its per-source-subset copy."""
    return package_code(
        "capture/recording.py", "capture/rays.py", "capture/bonefit.py", "capture/upright.py", "model/refine.py"
    )


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


def realval_pairs():
    """Every evaluated camera × person pair's name, known once each session's reference is built."""
    out = []
    for s in sessions():
        folder = checkpoints.multiview_reference.get(session=s).output[0]
        pairs = json.loads((Path(folder) / "pairs.json").read_text())
        out += [p["recording"] for p in pairs if p["evaluated"]]
    return out


def realval_reports(wildcards):
    return [f"results/eval/{pair}.json" for pair in realval_pairs()]


def realval_compare_inputs(wildcards):
    """For a source subset: every pair refined by its model, with the pair's reference."""
    pairs = realval_pairs()
    return {
        "refined": [f"results/refined/sources/{wildcards.subset}/{p}.parquet" for p in pairs],
        "reference": [f"results/reference_camera/{p}.parquet" for p in pairs],
        "markerset": config["video_markerset"],
    }


def subset_model(wildcards):
    return f"results/model/{recording_markerset(wildcards)}/sources/{wildcards.subset}/best.pt"
