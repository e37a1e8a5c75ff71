"""End to end: `snakemake realval` on the shared 4-camera session → triangulated reference,
camera × person recordings, summary table; the pages opened in headless Chromium."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from workflow_helpers import headless, locomotion_source, make_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.slow
ESTIMATES = {"raw", "rays", "butterworth", "savgol", "refined", "bone_fit"}
METRICS = {"depth_mm", "mpjpe_mm", "mpjpe_rigid_mm", "jitter_mm", "bone_cv_pct"}


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    workdir = make_workdir(
        tmp_path_factory.mktemp("realval") / "wf",
        {
            **locomotion_source(data_dir),
            "multiview_dir": str(data_dir / "multiview"),
            "pose_model": str(data_dir.parent / "models" / "pose_landmarker_full.task"),
            # CMU is the only source here, so the "CMU only" model must be the same model
            "realval_compare_sources": [["cmu"]],
        },
    )
    snakemake(workdir, "realval")
    return workdir, json.loads((workdir / "results/eval/realval.json").read_text())


def test_reference_quality_of_the_fully_seen_person(run):
    qc = run[1]["reference_qc"]
    assert set(qc) == {"lab-two-people/p0", "lab-two-people/p1"}
    man = qc["lab-two-people/p0"]
    # Measured 97.4 % kept at a median of 9.80 px over the views used (12.7 px before views that
    # disagree were left out as Pose2Sim leaves them out; 13.6 px over every view): issue 10's
    # "≥ 95 % kept, median ≤ 10 px".
    assert man["kept_fraction"] >= 0.95 and man["median_reproj_px"] <= 10.0
    assert man["median_reproj_px"] < man["median_reproj_all_views_px"] <= 14.5
    assert man["frames_associated"] >= 80  # 85 measured; the others have < 3 cameras seeing him (checked by eye)
    assert 0 < man["bone_cv_pct"] < 10
    woman = qc["lab-two-people/p1"]
    # 85 frames, 89.2 % kept measured (57 frames, 86.5 % without the mirrored-frame pass)
    assert woman["frames_associated"] >= 75 and woman["kept_fraction"] > 0.85


def test_summary_table_over_pairs(run):
    result = run[1]
    pairs = result["pairs"]
    assert len([p for p in pairs if p["person"] == "p0"]) == 4 and len(pairs) >= 5
    for p in pairs:
        assert set(p["estimates"]) == ESTIMATES | {"refined[cmu]"}
        # on the camera rays: the same hip-relative depths, x and y from the image
        assert p["estimates"]["rays"]["depth_mm"] == pytest.approx(p["estimates"]["raw"]["depth_mm"], abs=1e-6)
        # trained on the same data with the same seed: the same model, the same scores
        assert p["estimates"]["refined[cmu]"]["depth_mm"] == pytest.approx(p["estimates"]["refined"]["depth_mm"])
        for key, m in p["estimates"].items():
            assert METRICS <= set(m), key
            assert 30 < m["depth_mm"] < 250 and m["depth_mm"] <= m["mpjpe_mm"], (p["camera"], key)
            assert m["mpjpe_rigid_mm"] <= m["mpjpe_mm"] + 1e-6
        # the filters and the refiner's 6 Hz front end remove most of the raw jitter
        assert p["estimates"]["butterworth"]["jitter_mm"] < 0.5 * p["estimates"]["raw"]["jitter_mm"]
        assert p["estimates"]["refined"]["jitter_mm"] < 0.5 * p["estimates"]["raw"]["jitter_mm"]
    # The calibration gives each camera's up: the bone fit takes the lean nearer upright. The
    # woman in cam04 leans the wrong way in depth from her 10th frame (the reference 1°): turned there.
    from depthrefine.multiview.calibration import read_toml

    cameras = {c.name: c for c in read_toml(run[0] / "results/reference/lab-two-people/calibration_refined.toml")}
    for p in pairs:
        up = p["upright"]
        assert np.allclose(up["camera_up"], cameras[p["camera"]].R @ [0.0, 0.0, 1.0], atol=1e-3)  # world_up: z
        assert 0 <= up["turned_frames"] <= up["frames"] and up["turned"] == (up["turned_frames"] > 0)
    assert any(p["upright"]["turned_frames"] >= 10 for p in pairs if (p["camera"], p["person"]) == ("cam04", "p1"))
    # … and its centre's height above the floor (Qualisys: z = 0): the body's size is taken from
    # the floor. BlazePose gives the 1.40 m woman an adult's size: shrunk (0.83–0.85 measured;
    # the scale that best fits her reference is 0.81–0.86); the 1.66 m man's stays near (1.02–1.07).
    for p in pairs:
        assert p["floor_scale"]["camera_height_m"] == pytest.approx(cameras[p["camera"]].centre[2], abs=1e-3)
    scales = {person: [p["floor_scale"]["scale"] for p in pairs if p["person"] == person] for person in ("p0", "p1")}
    assert all(0.92 < s < 1.15 for s in scales["p0"]) and all(0.75 < s < 0.92 for s in scales["p1"]), scales
    held_mpjpe = {k: result["summary_held_out"][k]["mpjpe_mm"]["mean"] for k in ("raw", "bone_fit")}
    assert held_mpjpe["bone_fit"] < 0.8 * held_mpjpe["raw"]  # 112.9 vs 178.3 mm measured (her scale)
    for key in ESTIMATES:
        s = result["summary"][key]["depth_mm"]
        assert s["n"] == len(pairs) and s["sd"] > 0
    # the image-consistent capture: MPJPE 165.0 → 161.3 mm measured over the 7 pairs (6 lower)
    mpjpe = {k: result["summary"][k]["mpjpe_mm"]["mean"] for k in ("raw", "rays")}
    assert mpjpe["rays"] < mpjpe["raw"] - 3
    # the bone fit: constant bone lengths (bone CV 10.7 → 4.4 % measured), smoother than the filter
    mean = {k: {m: v["mean"] for m, v in result["summary"][k].items()} for k in ("butterworth", "refined", "bone_fit")}
    assert mean["bone_fit"]["bone_cv_pct"] < 0.6 * mean["refined"]["bone_cv_pct"]
    assert mean["bone_fit"]["jitter_mm"] <= mean["butterworth"]["jitter_mm"]
    # the pairs the error model is not fitted on (error_model_fit_pairs: lab-two-people@*@p0) are summarised apart
    held = [p for p in pairs if p["held_out"]]
    assert (
        held and all(p["person"] != "p0" for p in held) and not any(p["held_out"] for p in pairs if p["person"] == "p0")
    )
    assert result["summary_held_out"]["raw"]["depth_mm"]["n"] == len(held)
    # beside it, the same model on its shards' synthetic test split: the filters and the
    # refiner lower the corrupted input's depth error and jitter there too
    synthetic = result["synthetic_heldout"]
    assert synthetic["clips"] > 0 and set(synthetic["table"]) == {"raw", "butterworth", "savgol", "refined"}
    table = synthetic["table"]
    assert table["refined"]["depth_mm"] < table["raw"]["depth_mm"]
    assert table["butterworth"]["jitter_mm"] < 0.2 * table["raw"]["jitter_mm"]


def test_error_model_fitted_on_the_fitting_pairs(run):
    """`snakemake realval` refits the monocular error model: a config block that the config
    accepts, fitted on p0's pairs, and synthetic residuals of the measured size."""
    import yaml

    from depthrefine.markers.corruption import CorruptionConfig
    from depthrefine.settings import config_section

    workdir = run[0]
    block = yaml.safe_load((workdir / "results/eval/error_model.yaml").read_text())
    cfg = CorruptionConfig.from_dict(config_section("corruption", {"error_model": "fitted", **block["corruption"]}))
    assert 2 < cfg.monocular.yaw_clip_deg < 30 and 0.3 < cfg.monocular.body_depth_median < 1.5
    fitted = json.loads((workdir / "results/eval/error_model.json").read_text())
    assert fitted["fit_pairs"] and all(p.endswith("@p0") for p in fitted["fit_pairs"])
    assert fitted["held_out_pairs"] and not any(p.endswith("@p0") for p in fitted["held_out_pairs"])
    fitting = [c for p, c in fitted["comparison"].items() if p.endswith("@p0")]
    for key in ("depth_mm", "jitter_mm"):
        # drawn on the fitting pairs' own references, the model errs as BlazePose did on them
        # (measured: depth 109.6 vs 102.0 mm, jitter 80.1 vs 71.9 mm)
        ratio = np.mean([c["synthetic"][key] for c in fitting]) / np.mean([c["real"][key] for c in fitting])
        assert 1 / 1.25 < ratio < 1.25, key
    for c in fitting:
        assert 1 / 1.6 < c["synthetic"]["depth_mm"] / c["real"]["depth_mm"] < 1.6
    # BlazePose's residual jitter differs 5× between pairs (24–124 mm): each draw lies in that span
    real_jitter = [c["real"]["jitter_mm"] for c in fitted["comparison"].values()]
    assert all(min(real_jitter) < c["synthetic"]["jitter_mm"] < max(real_jitter) for c in fitted["comparison"].values())


def test_reference_files_follow_the_documented_layout(run):
    workdir = run[0]
    table = pq.read_table(workdir / "results/reference/lab-two-people/p0.parquet")
    assert table.column_names == ["frame", "time_s", "marker", "x", "y", "z", "error_px", "views"]
    meta = json.loads(table.schema.metadata[b"depthrefine"])
    assert meta["fps"] == 60 and len(meta["markers"]) == 18 and table.num_rows == 100 * 18
    views = table.column("views").to_numpy()
    kept = np.isfinite(table.column("x").to_numpy())
    assert (views[kept] >= 3).all()  # never fewer than 3 views
    qc = json.loads((workdir / "results/reference/lab-two-people/qc.json").read_text())
    assert qc["median_4view_px_after"] < qc["median_4view_px_before"]
    assert abs(qc["people_floor_m"]) < 0.05  # the lab's floor is z = 0 (−2.3 cm measured from the feet)
    assert all(np.linalg.norm(r) <= 2.0 + 1e-6 for r in qc["rotation_deg"].values())
    report = json.loads((workdir / "results/eval/lab-two-people@cam01@p0.json").read_text())
    assert report["capture"]["pair"]["camera"] == "cam01" and "against_reference" in report


def test_joint_angles_of_every_pair(run):
    """OpenSim scaling + IK of every capture and of the reference; RMSE rows in the summary."""
    workdir, result = run
    captures = {"raw", "butterworth", "refined", "bone_fit", "reference"}
    for p in result["pairs"]:
        folder = workdir / "results/kinematics" / f"{p['session']}@{p['camera']}@{p['person']}"
        for key in captures:
            for suffix in (".mot", ".osim", ".trc", "_ik_marker_errors.sto"):
                assert (folder / f"{key}{suffix}").is_file(), (folder, key, suffix)
        summary = json.loads((folder / "angles.json").read_text())
        assert summary["frame"]["fitted_on"] == "reference"
        for key, c in summary["captures"].items():
            # Pose2Sim's setup on BlazePose markers: 30–40 mm measured; the reference too
            assert 5 < c["ik_marker_error_rms_mm"]["mean"] < 80, (folder, key)
            assert 1.3 < c["height_m"] < 2.1, (folder, key)
        assert set(p["joint_angles"]) == captures - {"reference"}
        for key, scores in p["joint_angles"].items():
            # 12–41° measured on these short, occluded clips (the raw capture's systematic errors;
            # 41° where BlazePose tilts the woman ≈ 45° in depth in cam04, docs/model.md)
            assert 3 < scores["headline_deg"] < 50, (folder, key)
    assert set(result["joint_angles"]) == captures - {"reference"}
    assert result["joint_angles"]["raw"]["headline_deg"]["n"] == len(result["pairs"])
    # OpenSim's messages went to the rule's log, and no opensim.log was left behind
    log = (workdir / "logs/joint_angles/lab-two-people@cam01@p0.log").read_text()
    assert "[info]" in log and not (workdir / "opensim.log").exists()


def test_pages_render_in_headless_chromium(run):
    workdir = run[0]
    dom = headless("--dump-dom", (workdir / "results/eval/realval.html").as_uri()).stdout
    assert "Mean ± sd over" in dom and dom.count("<tr>") >= 5 + 5 + 2
    assert "learned refinement, trained on cmu only" in dom
    assert "Joint-angle RMSE against the reference" in dom and "knee flexion R" in dom
    assert "angle-rmse-pairs" in dom and "held-out" in dom and "synthetic-heldout" in dom
    assert "m below the camera" in dom  # each pair's size, from the floor
    dom = headless("--dump-dom", (workdir / "results/eval/error_model.html").as_uri()).stdout
    assert "residual-figure" in dom and "data:image/png;base64," in dom and "yaw_clip_deg" in dom
    dom = headless("--dump-dom", (workdir / "results/reference/lab-two-people/qc.html").as_uri()).stdout
    assert "reprojection error per camera" in dom and "data:image/png;base64," in dom
    dom = headless("--dump-dom", (workdir / "results/eval/lab-two-people@cam02@p0.html").as_uri()).stdout
    assert "Against the multi-camera reference" in dom and "reference-markers" in dom
    assert "Joint angles (OpenSim)" in dom and "angle-rmse" in dom


def test_realval_reruns_when_the_reference_config_changes(run, tmp_path):
    workdir = run[0]
    assert planned_jobs(snakemake(workdir, "-n", "realval")) == {}
    extra = tmp_path / "gate.yaml"
    extra.write_text("multiview:\n  gate_px: 60\n")
    jobs = planned_jobs(snakemake(workdir, "-n", "realval", extra_config=extra))
    assert jobs.get("multiview_reference") == 1 and jobs.get("realval") == 1
    assert "multiview_poses" not in jobs


def test_realval_reruns_when_the_reference_code_changes(run):
    workdir = run[0]
    code = workdir / "src/depthrefine/multiview/triangulation.py"  # an edit (a touch alone is not a change)
    code.write_text(code.read_text() + "\n# edited\n")
    jobs = planned_jobs(snakemake(workdir, "-n", "realval"))
    assert jobs.get("multiview_reference") == 1 and jobs.get("realval") == 1
    assert "multiview_poses" not in jobs and "train_model" not in jobs


def test_error_model_page_of_sessions_it_was_not_fitted_on(run, tmp_path):
    """A multiview_dir without the fitting session (a held-out clip): nothing is fitted, the
    configured parameters are compared with every pair, and the YAML says so."""
    from depthrefine.evaluation.error_model_report import fit_error_model
    from depthrefine.settings import config_section

    workdir = run[0]
    pairs = [p.name[: -len(".parquet")] for p in sorted((workdir / "results/reference_camera").glob("*.parquet"))]
    configured = config_section("corruption", {})["monocular"]
    out = {k: tmp_path / f"error_model.{k}" for k in ("yaml", "json", "html", "png")}
    result = fit_error_model(
        [str(workdir / f"results/markers/{p}.parquet") for p in pairs],
        [str(workdir / f"results/reference_camera/{p}.parquet") for p in pairs],
        str(workdir / "config/markersets/blazepose.yaml"),
        fit_pairs=["another-session@*@p0"],
        configured=configured,
        seed=0,
        out_yaml=str(out["yaml"]),
        out_json=str(out["json"]),
        out_html=str(out["html"]),
        out_png=str(out["png"]),
    )
    assert result["fit_pairs"] == [] and sorted(result["held_out_pairs"]) == pairs
    assert result["parameters"] == pytest.approx(configured)
    assert out["yaml"].read_text().startswith("# Not fitted: no pair matches")
    assert "Nothing fitted" in out["html"].read_text()


def test_a_session_at_another_rate_than_the_config(run, tmp_path):
    """The lab's 60 fps pair recorded for a 30 fps config: the markers resampled as a video's
    are, the reference with them — the same frames, every other one of the 60 fps reference."""
    from depthrefine.multiview.stages import pair_recording, read_reference_parquet
    from depthrefine.tables import read_observations

    workdir = run[0]
    recording = "lab-two-people@cam01@p0"
    out = {k: str(tmp_path / f"pair.{k}") for k in ("parquet", "trc", "png")}
    out["reference"] = str(tmp_path / "reference.parquet")
    pair_recording(
        str(workdir / "results/reference/lab-two-people"),
        str(workdir / "results/multiview/lab-two-people/poses/cam01.npz"),
        str(workdir / "config/markersets/blazepose.yaml"),
        out["parquet"],
        out["trc"],
        out["png"],
        out["reference"],
        recording=recording,
        fps=30.0,
        gap_fill_s=0.2,
        world_up=[0, 0, 1],
    )
    observed = read_observations(out["parquet"])[0]
    slow, _, _, meta = read_reference_parquet(out["reference"])
    fast = read_reference_parquet(workdir / f"results/reference_camera/{recording}.parquet")[0]
    assert meta["fps"] == 30.0 and len(slow) == len(observed)
    assert abs(len(slow) - (len(fast) + 1) // 2) <= 1
    np.testing.assert_allclose(slow[: len(fast[::2])], fast[::2][: len(slow)], equal_nan=True)
