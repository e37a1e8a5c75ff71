"""End to end: real videos → BlazePose markers → a model trained on demand → reports, in the
real workflow; the reports opened in headless Chromium."""

import json
import os
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from workflow_helpers import headless, locomotion_source, make_workdir, planned_jobs, snakemake

from depthrefine.capture.recording import write_trc_camera
from depthrefine.capture.trc import read_trc

pytestmark = pytest.mark.slow
VIDEOS = ("walk-lab-cam01", "outdoor-two-people")


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("rec")
    (tmp / "videos").mkdir()
    (tmp / "markers").mkdir()
    for name in VIDEOS:
        os.symlink(data_dir / "videos" / f"{name}.mp4", tmp / "videos" / f"{name}.mp4")
    workdir = make_workdir(
        tmp / "wf",
        {
            **locomotion_source(data_dir),
            "videos_dir": str(tmp / "videos"),
            "markers_dir": str(tmp / "markers"),
            "pose_model": str(data_dir.parent / "models" / "pose_landmarker_full.task"),
        },
    )
    snakemake(workdir, "recordings")
    return workdir, tmp


def report(workdir, name):
    return json.loads((workdir / "results" / "eval" / f"{name}.json").read_text())


@pytest.mark.parametrize("name", VIDEOS)
def test_reports_have_sane_metrics(run, name):
    r = report(run[0], name)
    assert r["markerset"] == "blazepose" and r["fps"] == 60 and r["frames"] > 90
    assert set(r["table"]) == {"raw", "butterworth_6hz", "savitzky_golay", "learned", "rays", "bone_fit"}
    for method, m in r["metrics"].items():
        assert 0.15 <= m["hip_width_m"] <= 0.40, method
        for bone, length in m["bone_lengths_m"].items():
            low, high = (0.25, 0.60) if ("Hip" in bone or "Knee" in bone) else (0.15, 0.45)
            assert low <= length <= high, (method, bone, length)
        assert 0 <= m["ground_violation_pct"] <= 100 and 0 < m["bone_cv"] < 0.5
        assert set(m["pelvis_rom_deg"]) == {"obliquity", "rotation"}
        assert np.degrees(np.arccos(abs(m["floor"]["normal"][1]))) < 45  # the floor is below, not a wall
    # the refiner's fixed 6 Hz front end alone removes most of the raw jitter
    assert r["table"]["learned"]["depth jitter (mm)"] < 0.6 * r["table"]["raw"]["depth jitter (mm)"]
    assert r["change_pct"]["depth jitter (mm)"] < -40
    # joint angles of each capture (results/kinematics/<name>/), in the frame of the chain's output
    angles = r["joint_angles"]
    assert set(angles["captures"]) == {"raw", "butterworth", "refined", "bone_fit"}
    assert angles["frame_fitted_on"] == "bone_fit" and "against_reference" not in angles
    for key, c in angles["captures"].items():
        assert c["frames_solved"] == r["frames"] and c["ik_marker_error_rms_mm"]["mean"] < 80, key


def test_two_people_one_followed(run):
    cap = report(run[0], "outdoor-two-people")["capture"]
    assert cap["fps_in"] == 30 and cap["video"]["max_people"] == 2 and cap["video"]["frames"] == 230
    assert cap["video"]["frames_with_person"] > 120  # the woman crossing the lawn, ~4.6 s of 7.7 s
    lab = report(run[0], "walk-lab-cam01")["capture"]
    assert (
        lab["fps_in"] == 60
        and lab["video"]["frames_with_person"] == 100
        and lab["trimmed_frames"] == {"start": 0, "end": 0}
    )


def test_marker_outputs_follow_the_observations_schema(run):
    workdir = run[0]
    raw = pq.read_table(workdir / "results/markers/walk-lab-cam01.parquet")
    refined = pq.read_table(workdir / "results/refined/walk-lab-cam01.parquet")
    assert "true_xyz" not in refined.column_names and {"observed_xyz", "refined_xyz", "learned_xyz", "filled"} <= set(
        refined.column_names
    )
    meta = {k.decode(): v.decode() for k, v in refined.schema.metadata.items()}
    assert meta["markerset"] == "blazepose" and meta["axes"].startswith("camera: x right, y down, z forward")
    obs = np.array(refined.column("observed_xyz").to_pylist()).reshape(refined.num_rows, 18, 3)
    ref = np.array(refined.column("refined_xyz").to_pylist()).reshape(refined.num_rows, 18, 3)
    learned = np.array(refined.column("learned_xyz").to_pylist()).reshape(refined.num_rows, 18, 3)
    assert np.array_equal(obs, np.array(raw.column("observed_xyz").to_pylist()).reshape(raw.num_rows, 18, 3))
    # the refiner changes depth only; the chain's output (the bone fit) lies within the 2D
    # detector's error (σ_lateral 2 cm) of the camera rays
    assert np.array_equal(obs[..., :2], learned[..., :2]) and not np.array_equal(obs[..., 2], learned[..., 2])
    ray_xy = np.array(refined.column("ray_xy").to_pylist()).reshape(refined.num_rows, 18, 2)
    off_ray_m = np.linalg.norm(ref[..., :2] - ray_xy * ref[..., 2:], axis=-1)
    assert np.median(off_ray_m) < 0.02 and off_ray_m.max() < 0.15 and off_ray_m.max() > 0
    assert json.loads(meta["capture"])["bone_fit"]["lengths_m"]["Hip–Knee"] > 0.2
    # the camera rays: every marker reprojects to its landmarks' pixel, the person 1.5–15 m away
    from depthrefine.capture.rays import on_rays
    from depthrefine.tables import read_rays

    rays, visibility = read_rays(raw)
    assert rays.shape == (raw.num_rows, 18, 2) and 0 <= visibility.min() and visibility.max() <= 1
    placed = on_rays(obs, rays, visibility)
    assert np.allclose(placed[..., :2] / placed[..., 2:], rays, atol=1e-9)
    assert 1.5 < np.median(placed[..., 2]) < 15
    assert read_rays(refined)[0] == pytest.approx(rays)  # carried into the refined file
    intrinsics = json.loads(meta["capture"])["intrinsics"]
    assert intrinsics["from"].startswith("config video_focal = 0.72")
    trc = read_trc(workdir / "results/refined/walk-lab-cam01.trc")
    assert trc.units == "m" and trc.data_rate == 60 and len(trc.markers) == 18
    assert np.allclose(trc.xyz, ref, atol=2e-6)


def test_reports_are_self_contained(run):
    workdir = run[0]
    for name in VIDEOS:
        text = (workdir / "results/eval" / f"{name}.html").read_text()
        sources = re.findall(r"<img[^>]* src='([^']*)'", text)
        # the video frame, 4 plots of the markers, 1 of the joint angles
        assert len(sources) == 6 and all(s.startswith("data:image/png;base64,") for s in sources)
        assert not re.search(r"(src|href)=['\"]?(https?:|//|/)", text)
    index = (workdir / "results/eval/index.html").read_text()
    assert all(f"href='{n}.html'" in index for n in VIDEOS)


def test_report_renders_in_headless_chromium(run, tmp_path):
    from PIL import Image

    html = run[0] / "results/eval/outdoor-two-people.html"
    dom = headless("--dump-dom", html.as_uri()).stdout
    assert dom.count("<tr>") >= 6 + 10 and "pelvis ROM rotation" in dom  # the browser parsed both tables
    shot = tmp_path / "report.png"
    headless("--window-size=1280,5200", f"--screenshot={shot}", html.as_uri())
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (5200, 1280)

    def share(rgb, rows, tol=30):  # fraction of pixels near a colour in a band of rows
        band = image[rows]
        return (np.abs(band - np.array(rgb)).max(axis=-1) < tol).mean()

    table = image[150:500, :900]
    assert (table.sum(axis=-1) < 200).mean() > 0.01  # dark text of the metric table
    assert share((196, 78, 82), slice(1300, 5200)) > 1e-4  # the refined (red) curves of the plots
    assert share((76, 114, 176), slice(1300, 5200)) > 1e-4  # the Butterworth (blue) curves
    assert share((0, 200, 255), slice(700, 1400), tol=40) > 1e-5  # the skeleton drawn on the video frame


def test_reports_rerun_on_config_and_model_changes(run):
    workdir = run[0]
    assert planned_jobs(snakemake(workdir, "-n", "recordings")) == {}
    gaps = workdir / "gaps.yaml"
    gaps.write_text("gap_fill_s: 0.3\n")
    assert planned_jobs(snakemake(workdir, "-n", "recordings", extra_config=gaps)) == {
        "recording_markers": 2,
        "refine_recording": 2,
        "joint_angles": 2,
        "recording_report": 2,
        "recordings_index": 1,
        "recordings": 1,
    }
    import torch

    model = workdir / "results/model/blazepose/best.pt"  # a new model (same size: a touch alone is not a change)
    ckpt = torch.load(model, weights_only=False)
    next(iter(ckpt["model"].values())).add_(1e-3)
    torch.save(ckpt, model)
    assert planned_jobs(snakemake(workdir, "-n", "recordings")) == {
        "refine_recording": 2,
        "joint_angles": 2,
        "recording_report": 2,
        "recordings_index": 1,
        "recordings": 1,
    }
    snakemake(workdir, "recordings")


def test_cli_writes_joint_angles_next_to_the_refined_trc(run, tmp_path):
    from depthrefine.angles.stages import read_angles
    from depthrefine.cli import main

    workdir = run[0]
    out = tmp_path / "walk_refined.trc"
    model = workdir / "results/model/blazepose/best.pt"
    markerset = workdir / "config/markersets/blazepose.yaml"
    args = [str(workdir / "results/markers/walk-lab-cam01.trc"), str(out), "--model", str(model)]
    assert main(args + ["--joint-angles", "--height", "1.78", "--markerset", str(markerset)]) == 0
    for suffix in (".trc", ".mot", ".osim", "_opensim.trc", "_ik_marker_errors.sto", "_opensim.log"):
        assert (tmp_path / f"walk_refined{suffix}").is_file(), suffix
    angles = read_angles(tmp_path / "walk_refined.mot", 60.0, 100)
    assert np.isfinite(angles["knee_angle_r"]).all() and np.nanmax(angles["knee_angle_r"]) > 20  # walking
    assert "[info]" in (tmp_path / "walk_refined_opensim.log").read_text()


def test_marker_files_and_their_errors(run):
    workdir, tmp = run
    raw = read_trc(workdir / "results/markers/walk-lab-cam01.trc")
    # A TRC in the markers folder with OpenPose-style names goes the same way as a video.
    names = ["MidHip" if n == "midHip" else n for n in raw.markers]
    write_trc_camera(tmp / "markers" / "lab.trc", raw.xyz, names, 60.0)
    snakemake(workdir, "results/eval/lab.html")
    assert report(workdir, "lab")["frames"] == 100
    assert report(workdir, "lab")["joint_angles"]["frame_fitted_on"] == "refined"  # a marker file: no rays
    assert planned_jobs(snakemake(workdir, "-n", "results/eval/lab.html")) == {}  # the model is not retrained

    write_trc_camera(tmp / "markers" / "short.trc", raw.xyz[:8], raw.markers, 60.0)
    result = snakemake(workdir, "results/eval/short.html", check=False)
    assert result.returncode != 0
    assert re.search(r"short.trc.*: 8 frames at 60 fps is shorter than the 11 frames the refiner needs", result.stderr)
    assert not (workdir / "results/eval/short.html").exists()

    keep = [i for i, n in enumerate(raw.markers) if "Hip" not in n]
    write_trc_camera(tmp / "markers" / "nohips.trc", raw.xyz[:, keep], [raw.markers[i] for i in keep], 60.0)
    result = snakemake(workdir, "results/eval/nohips.html", check=False)
    assert (
        result.returncode != 0
        and "nohips.trc: marker set mismatch: markers ['midHip', 'RHip', 'LHip']" in result.stderr
    )
    assert not (workdir / "results/eval/nohips.html").exists()

    result = snakemake(workdir, "results/eval/nobody.html", check=False)
    assert result.returncode != 0 and "no recording named 'nobody'" in result.stderr
