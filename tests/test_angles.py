"""Joint angles through OpenSim (depthrefine.angles): the levelled frame, the scale factors,
the marker-name check, IK on poses with known angles, reproducibility."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from depthrefine.angles.catalogue import angle_rmse, headline_mean
from depthrefine.angles.frame import fit_frame
from depthrefine.angles.opensim_run import (
    SCALING_XML,
    generic_model,
    marker_distances,
    model_bodies,
    write_scaled_model,
)
from depthrefine.angles.scaling import Measurement, body_scales, estimate_height, read_measurements, trimmed_mean
from depthrefine.angles.stages import capture_angles, foot_groups, opensim_columns, read_angles
from depthrefine.markers.markersets import load_markerset
from depthrefine.settings import subject_for

BLAZEPOSE = Path(__file__).resolve().parents[1] / "config/markersets/blazepose.yaml"
OURS = [
    "RShoulder", "LShoulder", "RElbow", "LElbow", "RWrist", "LWrist", "RHip", "LHip",
    "RKnee", "LKnee", "RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe",
]  # fmt: skip


def model_poses(poses: list[dict[str, float]], model=None):
    """Marker positions (F, 16, 3) of the generic model (OpenSim ground frame) in each pose:
    coordinate → value (degrees for angles, metres for translations); the others at the
    model's default values (the pose its scaling distances are measured in)."""
    m, state = model or generic_model("simple")
    coords = m.getCoordinateSet()
    out = []
    for pose in poses:
        for i in range(coords.getSize()):
            coords.get(i).setValue(state, coords.get(i).getDefaultValue(), False)
        for name, v in pose.items():
            c = coords.get(name)
            c.setValue(state, v if name.endswith(("_tx", "_ty", "_tz")) else np.radians(v), False)
        m.realizePosition(state)
        markers = m.getMarkerSet()
        out.append([markers.get(n).getLocationInGround(state).to_numpy() for n in OURS])
    return np.array(out)


def to_camera(xyz_ground: np.ndarray, pitch_deg: float, yaw_deg: float, distance_m: float) -> np.ndarray:
    """OpenSim ground (X forward, Y up, Z right) → a camera frame (x right, y down, z depth) of
    a camera pitched down by pitch_deg, the subject turned by yaw_deg, distance_m away."""
    # facing the camera: forward X → −z, up Y → −y, the subject's right Z → image left (−x)
    to_cam_axes = np.array([[0.0, 0, -1], [0, -1, 0], [-1, 0, 0]])
    r = Rotation.from_euler("x", -pitch_deg, degrees=True).as_matrix() @ to_cam_axes
    r = r @ Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix()
    return xyz_ground @ r.T + np.array([0.0, 0.0, distance_m])


KNEE = np.concatenate([np.zeros(20), np.linspace(0, 90, 40)])


@pytest.fixture(scope="module")
def knee_bend(tmp_path_factory):
    """A walk forward of 1.2 m over 60 frames, both feet flat for 20 frames (the floor's
    stance points), then the right knee bending 0 → 90°: markers of the generic model seen by
    a camera pitched 25° down, the subject turned 30°."""
    frames = 60
    poses = [{"pelvis_tx": 1.2 * f / (frames - 1), "pelvis_ty": 0.94, "knee_angle_r": KNEE[f]} for f in range(frames)]
    cam = to_camera(model_poses(poses), 25.0, 30.0, 4.0)
    left, right = OURS.index("LHip"), OURS.index("RHip")
    feet = np.array([OURS.index(n) for n in ("RHeel", "LHeel", "RBigToe", "LBigToe")])
    frame = fit_frame(cam, feet, foot_groups([OURS[i] for i in feet]), left, right)
    out = tmp_path_factory.mktemp("angles")
    summary = capture_angles(frame.apply(cam), OURS, 60.0, out / "bend")
    return frame, summary, read_angles(out / "bend.mot", 60.0, frames), out, frame.apply(cam)


def test_levelled_frame_undoes_the_camera_pitch_and_yaw(knee_bend):
    frame, _, angles, _, _ = knee_bend
    assert frame.heading_consistency > 0.99
    # the knee bent 90° in the camera frame is 90° of knee flexion, the pelvis level and square
    assert angles["knee_angle_r"][-1] == pytest.approx(90.0, abs=2.0)
    assert np.abs(angles["knee_angle_r"] - KNEE).max() < 3.0
    for name in ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "hip_flexion_r", "knee_angle_l"):
        assert np.abs(angles[name]).max() < 3.0, name
    # up is up: the pelvis stands at its height above the floor
    assert np.median(angles["pelvis_ty"]) == pytest.approx(0.94, abs=0.05)


def test_ik_of_the_model_own_markers_fits_them(knee_bend):
    _, summary, _, out, _ = knee_bend
    assert summary["ik_marker_error_rms_mm"]["mean"] < 5.0
    # the generic model's own distances: every scale factor 1
    assert all(f == pytest.approx(1.0, abs=0.02) for f in summary["scale_factors"].values())
    assert {p.name for p in out.iterdir()} >= {"bend.trc", "bend.osim", "bend.mot", "bend_ik_marker_errors.sto"}


def test_same_input_same_mot(knee_bend, tmp_path):
    _, _, _, out, xyz = knee_bend
    capture_angles(xyz, OURS, 60.0, tmp_path / "bend")
    assert (tmp_path / "bend.mot").read_bytes() == (out / "bend.mot").read_bytes()


def test_a_given_height_scales_the_model(knee_bend, tmp_path):
    _, summary, _, _, xyz = knee_bend
    taller = 1.1 * summary["height_estimated_m"]
    given = capture_angles(xyz, OURS, 60.0, tmp_path / "tall", height_m=taller, mass_kg=80.0)
    assert given["height_m"] == taller and given["height_source"] == "config" and given["mass_kg"] == 80.0
    # the factors written into the model are the clip's times given / estimated height
    import opensim

    model = opensim.Model(str(tmp_path / "tall.osim"))
    state = model.initSystem()
    femur = model.getBodySet().get("femur_r")
    generic, generic_state = generic_model("simple")
    ratio = (
        marker_distances(model, state, [("RHip", "RKnee")])[("RHip", "RKnee")]
        / marker_distances(generic, generic_state, [("RHip", "RKnee")])[("RHip", "RKnee")]
    )
    assert ratio == pytest.approx(1.1 * summary["scale_factors"]["thigh"], rel=0.01)
    assert femur.getMass() > 0
    assert summary["mass_source"].startswith("height at BMI")


def test_subjects_match_by_name_or_glob():
    subjects = {"lab-two-people@*@p0": {"height_m": 1.8}, "*": {"mass_kg": 70}}
    assert subject_for("lab-two-people@cam02@p0", subjects) == {"height_m": 1.8}
    assert subject_for("joey", subjects) == {"mass_kg": 70}
    assert subject_for("joey", {}) == {}


def test_scale_factors_recover_a_scaled_model(tmp_path):
    """Markers of a model scaled by a known factor → that factor for every measurement, through
    OpenSim's scaling. (Uniform: a shoulder marker sits on the torso and the elbow's on the
    humerus, so unequal factors mix in a marker-pair distance, in Pose2Sim's method as here.)"""
    measurements = read_measurements(SCALING_XML)
    planted = {meas.name: 1.07 for meas in measurements}
    m, state = generic_model("simple")
    bodies = {b: planted[meas.name] for meas in measurements for b in meas.bodies if b in model_bodies(m)}
    write_scaled_model(m, state, bodies, 70.0, tmp_path / "scaled.osim")
    import opensim

    scaled = opensim.Model(str(tmp_path / "scaled.osim"))
    xyz = model_poses([{"pelvis_ty": 0.94}] * 5, (scaled, scaled.initSystem()))
    generic, generic_state = generic_model("simple")
    lengths = marker_distances(generic, generic_state, {p for meas in measurements for p in meas.pairs})
    _, found = body_scales(xyz, OURS, measurements, lengths, model_bodies(generic))
    for name, f in planted.items():
        assert found[name] == pytest.approx(f, rel=0.005), name
    assert estimate_height(xyz, OURS) == pytest.approx(1.07 * estimate_height(model_poses([{"pelvis_ty": 0.94}]), OURS))


def test_scaling_statistics_are_nan_aware_and_robust():
    rng = np.random.default_rng(0)
    d = 0.40 + rng.normal(0, 0.005, 200)
    d[:30] = 0.9  # outliers (a swapped limb)
    d[30:60] = np.nan  # missing frames
    assert trimmed_mean(d) == pytest.approx(0.40, abs=0.02)
    assert np.isnan(trimmed_mean(np.full(5, np.nan)))
    # two markers 0.44 m apart on a model pair of 0.40 m: factor 1.1; a body the model lacks is left out
    xyz = np.zeros((10, 2, 3))
    xyz[:, 1, 0] = 0.44
    xyz[3, 1] = np.nan
    meas = [Measurement("thigh", (("RHip", "RKnee"), ("LHip", "LKnee")), ("femur_r", "patella_r"))]
    lengths = {("RHip", "RKnee"): 0.4, ("LHip", "LKnee"): 0.4}
    bodies, per = body_scales(
        xyz, ["RHip", "RKnee"], meas, {("RHip", "RKnee"): 0.4, ("LHip", "LKnee"): 0.4}, {"femur_r"}
    )
    assert per == {"thigh": pytest.approx(1.1)} and bodies == {"femur_r": pytest.approx(1.1)}
    with pytest.raises(ValueError, match="none of its marker pairs"):
        body_scales(xyz, ["A", "B"], meas, lengths, {"femur_r"})


def test_the_muscle_model_unpacks_and_loads():
    model, _ = generic_model("muscles")  # stored gzipped
    assert {"lumbar1", "patella_r", "femur_r"} <= model_bodies(model)
    assert "lumbar1" not in model_bodies(generic_model("simple")[0])  # skipped when scaling the simple one
    with pytest.raises(ValueError, match="must be one of"):
        generic_model("full")


def test_height_estimate_of_the_generic_model():
    """Winter's shoulder-height share applied to the generic model's own chain: its height (≈ 1.7 m)."""
    xyz = model_poses([{"pelvis_ty": 0.94}])
    assert 1.55 < estimate_height(xyz, OURS) < 1.85


def test_a_misspelt_opensim_marker_fails_loudly(tmp_path):
    ms = load_markerset(BLAZEPOSE)
    cols, names = opensim_columns(ms, ms.names)
    assert len(cols) == 16 and names == OURS
    text = BLAZEPOSE.read_text().replace("LKnee: LKnee", "LKnee: Lknee")
    bad = tmp_path / "blazepose.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=r"\['Lknee'\], not markers of the OpenSim marker file"):
        opensim_columns(load_markerset(bad), ms.names)
    with pytest.raises(ValueError, match="the marker set has no opensim_markers mapping"):
        opensim_columns(dataclasses.replace(ms, opensim_markers=None), ms.names)


def test_foot_groups_pair_left_and_right():
    assert foot_groups(["RHeel", "LHeel", "RBigToe", "LBigToe"]).tolist() == [0, 0, 1, 1]
    assert foot_groups(["r_calc_study", "l_calc_study", "r_toe_study"]).tolist() == [0, 0, 1]


def test_rmse_wraps_and_skips_missing_frames():
    est = {"pelvis_rotation": np.array([179.0, 10.0, np.nan]), "knee_angle_r": np.array([10.0, 20.0, 30.0])}
    ref = {"pelvis_rotation": np.array([-179.0, 12.0, 5.0]), "knee_angle_r": np.array([10.0, 20.0, np.nan])}
    rmse = angle_rmse(est, ref, np.array([True, True, True]))
    assert rmse["pelvis_rotation"] == pytest.approx(2.0) and rmse["knee_angle_r"] == 0.0
    assert headline_mean(rmse) is None  # not every headline angle
