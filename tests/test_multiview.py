"""Multi-camera reference: calibration readers, triangulation, label swaps, association,
scores against a reference; all on synthetic cameras except the Qualisys reader."""

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from depthrefine.errors import DataError
from depthrefine.evaluation.realval import against_reference, bone_cv_pct
from depthrefine.multiview.association import MIRROR, agree_labels, agree_limb_labels, associate_frame, mirrored
from depthrefine.multiview.calibration import Camera, read_qca, read_toml, write_toml
from depthrefine.multiview.session import cameras_for_videos, find_sessions
from depthrefine.multiview.stages import longest_run
from depthrefine.multiview.triangulation import triangulate

UP = np.array([0.0, 0.0, 1.0])


def look_at(name, centre, target=(0.0, 0.0, 1.0), f=1400.0, size=(1088, 1920), dist=(0.0, 0.0, 0.0, 0.0)):
    """An OpenCV camera at ``centre`` looking at ``target``, world z up."""
    z = np.asarray(target, float) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, UP)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    K = np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1.0]])
    return Camera(name, size, K, np.asarray(dist, float), R, -R @ np.asarray(centre, float))


@pytest.fixture
def cameras():
    return [
        look_at("a", np.array([4.0, 0.5, 1.5]), dist=(0.05, -0.01, 0.001, 0.0)),
        look_at("b", np.array([-0.5, 4.0, 1.6])),
        look_at("c", np.array([-4.0, -0.3, 1.4]), dist=(-0.03, 0.0, 0.0, 0.001)),
        look_at("d", np.array([0.4, -4.0, 1.7])),
    ]


def body(offset=(0.0, 0.0, 0.0), facing=0.0):
    """33 BlazePose-like landmarks of a person standing at ``offset`` facing +y rotated by
    ``facing`` rad about z; the person's left is −x when facing +y."""
    p = np.zeros((33, 3))
    side = {"L": -1.0, "R": 1.0}
    p[0] = [0, 0.10, 1.62]  # nose
    for i, (s, dx) in zip(
        range(1, 7), [("L", 0.02), ("L", 0.035), ("L", 0.05), ("R", 0.02), ("R", 0.035), ("R", 0.05)]
    ):
        p[i] = [side[s] * dx, 0.08, 1.66]
    p[7], p[8] = [-0.08, 0.0, 1.63], [0.08, 0.0, 1.63]
    p[9], p[10] = [-0.025, 0.09, 1.57], [0.025, 0.09, 1.57]
    chain = {
        11: (0.19, 0.0, 1.42),
        13: (0.24, 0.05, 1.15),
        15: (0.26, 0.15, 0.92),
        17: (0.27, 0.17, 0.86),
        19: (0.26, 0.18, 0.85),
        21: (0.25, 0.17, 0.88),
        23: (0.11, 0.0, 0.95),
        25: (0.13, 0.08, 0.52),
        27: (0.14, -0.05, 0.09),
        29: (0.14, -0.1, 0.04),
        31: (0.15, 0.12, 0.02),
    }
    for i, (x, y, z) in chain.items():
        p[i] = [-x, y, z]  # left
        p[i + 1] = [x, y, z]  # right
    c, s = np.cos(facing), np.sin(facing)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return p @ rot.T + np.asarray(offset)


def project(cameras, X):
    return np.stack([cam.project(X) for cam in cameras], axis=-2)  # (..., V, 2)


def test_triangulation_is_exact_on_synthetic_cameras(cameras):
    rng = np.random.default_rng(0)
    X = rng.uniform([-1, -1, 0], [1, 1, 2], size=(200, 3))
    px = project(cameras, X)
    seen = np.ones((200, 4), dtype=bool)
    seen[:50, 0] = False  # three views only
    tri = triangulate(cameras, px, seen, gate_px=5.0, min_views=3)
    np.testing.assert_allclose(tri.points, X, atol=1e-6)
    assert np.nanmax(tri.error_px) < 1e-3
    assert tri.views[:50].sum(axis=1).tolist() == [3] * 50 and tri.views[50:].all()


def test_triangulation_drops_points_with_two_views_and_gates_outliers(cameras):
    X = body()
    px = project(cameras, X)
    seen = np.ones((33, 4), dtype=bool)
    seen[0, 2:] = False  # the nose in two views only: dropped, not guessed
    px[5, 1] += 80.0  # one wild observation: the other three views are kept
    tri = triangulate(cameras, px, seen, gate_px=10.0, min_views=3)
    assert np.isnan(tri.points[0]).all() and np.isnan(tri.error_px[0])
    assert tri.views[5].tolist() == [True, False, True, True]
    np.testing.assert_allclose(tri.points[5], X[5], atol=1e-6)


def test_toml_round_trip_and_a_hand_computed_projection(tmp_path, cameras):
    write_toml(cameras, tmp_path / "calib.toml")
    back = read_toml(tmp_path / "calib.toml")
    X = body()
    for a, b in zip(cameras, back):
        np.testing.assert_allclose(a.project(X), b.project(X), atol=1e-6)
        np.testing.assert_allclose(a.centre, b.centre, atol=1e-9)
    # Pinhole by hand: camera at the origin, identity rotation, no distortion.
    cam = Camera(
        "p", (640, 480), np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]), np.zeros(4), np.eye(3), np.zeros(3)
    )
    np.testing.assert_allclose(cam.project(np.array([[0.2, -0.1, 2.0]])), [[370.0, 215.0]], atol=1e-9)


def test_qualisys_reader_reproduces_camera_centres_and_looks_at_the_scene(data_dir):
    path = data_dir / "multiview" / "lab-two-people" / "Calib.qca.txt"
    cams = read_qca(path)
    root = ET.parse(path).getroot()
    centres = [
        np.array([float(c.find("transform").get(k)) for k in "xyz"]) / 1000 for c in root.findall("cameras/camera")
    ]
    assert len(cams) == 4
    for cam, centre in zip(cams, centres):
        np.testing.assert_allclose(cam.centre, centre, atol=1e-9)
        assert cam.size == (1088, 1920)
        # A point on the optical axis projects to the principal point.
        on_axis = cam.centre + 3.0 * cam.R[2]
        np.testing.assert_allclose(cam.project(on_axis[None])[0], cam.K[:2, 2], atol=1e-6)
    # The point nearest every optical axis (the lab's centre) is in front of every camera and
    # inside every image: the π rotation about x has been applied the right way round.
    A, b = np.zeros((3, 3)), np.zeros(3)
    for cam in cams:
        d = cam.R[2]
        M = np.eye(3) - np.outer(d, d)
        A, b = A + M, b + M @ cam.centre
    scene = np.linalg.solve(A, b)
    for cam in cams:
        assert cam.to_camera(scene)[2] > 1.0
        u, v = cam.project(scene[None])[0]
        assert 0 <= u < cam.size[0] and 0 <= v < cam.size[1]


def test_calibration_errors_name_the_file(tmp_path):
    bad = tmp_path / "x.qca.txt"
    bad.write_text("<not xml")
    with pytest.raises(DataError, match="x.qca.txt"):
        read_qca(bad)
    (tmp_path / "c.toml").write_text("[cam1]\nname = 'cam1'\nsize = [10, 10]\n")
    with pytest.raises(DataError, match="missing"):
        read_toml(tmp_path / "c.toml")


def test_synthetic_body_has_the_right_chirality():
    X = body(facing=0.7)
    assert not mirrored(X, UP)
    assert mirrored(X[MIRROR], UP)


def test_a_planted_whole_body_swap_is_detected(cameras):
    px = project(cameras, body(facing=0.4)).transpose(1, 0, 2)  # (V, 33, 2)
    planted = px.copy()
    planted[2] = planted[2][MIRROR]
    labels = agree_labels(cameras, planted, UP)
    assert labels.flipped.tolist() == [False, False, True, False]
    assert labels.error_px < 1e-3
    # All views swapped: the views agree with each other, chirality finds it.
    labels = agree_labels(cameras, px[:, MIRROR], UP)
    assert labels.flipped.all()


def test_a_planted_leg_swap_is_detected_and_corrected(cameras):
    frames = np.stack([project(cameras, body(facing=f)) for f in (0.0, 0.3, 0.6)])  # (F, 33, V, 2)
    px = frames.transpose(0, 2, 1, 3).copy()  # (F, V, 33, 2)
    truth = px.copy()
    legs_left, legs_right = [25, 27, 29, 31], [26, 28, 30, 32]
    px[1, 3, legs_left + legs_right] = truth[1, 3, legs_right + legs_left]
    vis = np.ones(px.shape[:3])
    swapped = agree_limb_labels(cameras, px, vis)
    assert swapped[..., 0].sum() == 1 and swapped[1, 3, 0]
    assert not swapped[..., 1].any()
    np.testing.assert_allclose(px, truth, atol=1e-9)


def test_association_separates_two_people_and_drops_a_background_one(cameras):
    a, b = body((-0.9, 0.2, 0.0), 0.3), body((0.8, -0.3, 0.0), 2.5)
    background = body((0.0, 9.0, 0.0))
    pa_, pb, pc = (project(cameras, x).transpose(1, 0, 2) for x in (a, b, background))
    rng = np.random.default_rng(1)
    detections, truth = [], []
    for v in range(4):
        people = [("a", pa_[v]), ("b", pb[v])] + ([("bg", pc[v])] if v < 2 else [])
        order = rng.permutation(len(people))
        detections.append([np.column_stack([people[k][1], np.ones(33)]) for k in order])
        truth.append({people[k][0]: i for i, k in enumerate(order)})
    found = associate_frame(cameras, detections, gate_px=20.0, min_views=3)
    assert len(found) == 2
    for person in found:
        name = "a" if np.linalg.norm(person["hip"] - a[[23, 24]].mean(axis=0)) < 0.05 else "b"
        assert person["views"] == {v: truth[v][name] for v in range(4)}


def test_scores_against_a_reference():
    rng = np.random.default_rng(2)
    ref = np.repeat(body()[None, [0, 11, 12, 23, 24, 25, 26]], 20, axis=0) + rng.normal(0, 0.01, (20, 7, 3))
    names = ["nose", "ls", "rs", "lh", "rh", "lk", "rk"]
    hip = 3
    same = against_reference(ref, ref, hip, [(3, 5), (4, 6)], names)
    assert same["depth_mm"] == 0 and same["mpjpe_mm"] == 0 and same["mpjpe_rigid_mm"] < 1e-9
    est = ref.copy()
    est[:, 5, 2] += 0.1  # one knee 10 cm deeper
    s = against_reference(est, ref, hip, [(3, 5), (4, 6)], names)
    assert s["depth_mm"] == pytest.approx(100 / 6)  # 6 markers besides the hip
    assert s["depth_mm_per_marker"]["lk"] == pytest.approx(100)
    rotated = ref @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]).T  # a quarter turn
    assert against_reference(rotated, ref, hip, [], names)["mpjpe_rigid_mm"] < 1e-6
    assert bone_cv_pct(ref, [(3, 5)]) > 0


def test_longest_run_allows_short_gaps():
    mask = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], dtype=bool)
    assert longest_run(mask, 1) == (8, 14)
    assert longest_run(mask, 3) == (0, 14)


def test_sessions_and_video_camera_pairing(tmp_path):
    s = tmp_path / "lab"
    s.mkdir()
    (s / "b.mp4").write_bytes(b"")
    assert find_sessions(tmp_path / "missing") == {}
    with pytest.raises(DataError, match="calibration"):
        find_sessions(tmp_path)
    (s / "calib.toml").write_text("")
    with pytest.raises(DataError, match="at least 2"):
        find_sessions(tmp_path)
    (s / "a.mp4").write_bytes(b"")
    calibration, videos = find_sessions(tmp_path)["lab"]
    assert calibration.name == "calib.toml" and list(videos) == ["a", "b"]
    cams = [look_at(n, np.array([4.0, float(i), 1.5])) for i, n in enumerate(("s1", "s2"))]
    paired = cameras_for_videos(cams, ["b", "a"], s)
    assert [c.name for c in paired] == ["b", "a"] and paired[1].meta["calibration_name"] == "s1"
    by_name = cameras_for_videos(cams, ["s2", "s1"], s)
    assert [c.name for c in by_name] == ["s2", "s1"]
    with pytest.raises(DataError, match="2 calibrated cameras"):
        cameras_for_videos(cams, ["a", "b", "c"], s)


def test_triangulation_refines_dlt_to_the_pixel_optimum(cameras):
    """With noisy pixels the refined point is the least-squares optimum of the pixel error:
    no worse than DLT's for any point, and the gradient of the pixel error vanishes there."""
    from depthrefine.multiview.triangulation import dlt, projection_matrices, refine_points, reprojection_px

    rng = np.random.default_rng(1)
    X = rng.uniform([-1, -1, 0], [1, 1, 2], size=(100, 3))
    px = project(cameras, X) + rng.normal(0.0, 4.0, size=(100, 4, 2))
    used = np.ones((100, 4), dtype=bool)
    xy = np.stack([cam.undistort(px[:, v]) for v, cam in enumerate(cameras)], axis=1)
    linear = dlt(projection_matrices(cameras), xy, used)
    refined = refine_points(cameras, linear, px, used)
    sq = lambda P: (reprojection_px(cameras, P, px) ** 2).sum(axis=1)  # noqa: E731
    assert (sq(refined) <= sq(linear) + 1e-9).all() and (sq(refined) < sq(linear) - 1e-3).mean() > 0.5
    h = 1e-6  # central differences along each axis: a minimum
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = h
        grad = (sq(refined + step) - sq(refined - step)) / (2 * h)
        assert np.abs(grad).max() < 1.0  # px² per metre; DLT's points are thousands off


def test_a_disagreeing_view_is_left_out_only_above_the_preferred_error(cameras):
    """Pose2Sim's rule: all views while their mean error is ≤ prefer_px, else the best subset."""
    X = body()
    px = project(cameras, X)
    seen = np.ones((33, 4), dtype=bool)
    px[:, 2] += [0.0, 60.0]  # camera c 60 px off: the 4-view fit errs 22 px on average, 45 px at worst
    every = triangulate(cameras, px, seen, gate_px=80.0, min_views=3)
    assert every.views.all()
    chosen = triangulate(cameras, px, seen, gate_px=80.0, min_views=3, prefer_px=15.0)
    assert (chosen.views == [True, True, False, True]).all()
    np.testing.assert_allclose(chosen.points, X, atol=1e-6)
    assert np.nanmax(chosen.error_px) < 1e-3 and np.nanmin(chosen.per_view_px[:, 2]) > 20.0
    clean = triangulate(cameras, project(cameras, X), seen, gate_px=80.0, min_views=3, prefer_px=15.0)
    assert clean.views.all()  # nothing to leave out: every view stays


def test_a_detection_on_the_mirrored_frame_maps_back_to_the_frame():
    from depthrefine.capture.pose import unflipped

    rng = np.random.default_rng(2)
    image, world = rng.uniform(0, 1, (33, 3)), rng.normal(0, 0.3, (33, 3))
    back = unflipped(*unflipped(image, world))
    np.testing.assert_allclose(back[0], image)
    np.testing.assert_allclose(back[1], world)
    im, wo = unflipped(image, world)
    # The mirrored frame's "left wrist" (15) at x is the person's right wrist (16) at 1 − x.
    assert im[16, 0] == pytest.approx(1 - image[15, 0]) and im[16, 1] == image[15, 1] and im[16, 2] == image[15, 2]
    assert wo[16, 0] == pytest.approx(-world[15, 0]) and wo[16, 2] == world[15, 2]
    assert im[0, 0] == pytest.approx(1 - image[0, 0])  # the nose keeps its label


def test_passes_are_averaged_per_person_with_their_labels_aligned():
    from depthrefine.multiview.reference import averaged

    rng = np.random.default_rng(3)
    a = np.column_stack([rng.uniform(400, 600, (33, 2)), np.ones(33)])
    b, c = a + [300.0, 0.0, 0.0], a - [300.0, 0.0, 0.0]
    a2 = a + np.column_stack([rng.normal(0, 3, (33, 2)), np.zeros(33)])
    people = averaged([[a, b], [a2[MIRROR], c]], average_px=40.0)  # the second pass saw A mirrored
    assert len(people) == 3
    np.testing.assert_allclose(people[0], (a + a2) / 2)
    np.testing.assert_allclose(people[1], b)
    np.testing.assert_allclose(people[2], c)


def test_an_averaged_mode_must_be_a_pose_mode():
    from depthrefine.capture.pose import Detections
    from depthrefine.multiview.reference import pooled_detections

    dets = {"video": Detections([[]], [[]], 60.0, 100, 100)}
    with pytest.raises(ValueError, match="average_modes"):
        pooled_detections(dets, (100, 100), ["video"], 15.0, ["video", "flip"])


def test_a_planted_camera_rotation_is_recovered_from_the_views_the_choice_left_out(cameras):
    """Camera c's calibration is off by 1.8° (≈ 45 px): the 4-view fit errs > 15 px on average,
    so Pose2Sim's choice triangulates without c. The rotation fit still sees them (every view under the gate)
    and turns c back to within 0.05°; fitted on the chosen views alone it cannot."""
    from scipy.spatial.transform import Rotation

    from depthrefine.multiview.refinement import calibration_observations, refine_rotations

    planted = np.radians([1.8, 0.0, 0.0])  # a tilt of c: its image shifts vertically
    truth = [cam.rotated(planted) if cam.name == "c" else cam for cam in cameras]
    rng = np.random.default_rng(3)
    X = np.concatenate([body((x, y, 0.0), f) for x, y, f in rng.uniform([-1, -1, -3], [1, 1, 3], (6, 3))])
    px = project(truth, X) + rng.normal(0.0, 1.0, (len(X), 4, 2))
    seen = np.ones((len(X), 4), dtype=bool)
    before = triangulate(cameras, px, seen, gate_px=80.0, min_views=3, prefer_px=15.0)
    assert before.views[:, 2].mean() < 0.05 and np.nanmedian(before.per_view_px[:, 2]) > 30.0

    points, pixels, fitted_on = calibration_observations([before], [px], gate_px=80.0)
    assert fitted_on[:, 2].mean() > 0.9
    refined, _ = refine_rotations(cameras, points, pixels, fitted_on, max_deg=3.5)  # a box: 2.02° an axis
    residual = Rotation.from_matrix(refined[2].R @ truth[2].R.T).magnitude()
    assert np.degrees(residual) < 0.05
    after = triangulate(refined, px, seen, gate_px=80.0, min_views=3, prefer_px=15.0)
    assert after.views.all() and np.nanmedian(after.error_px) < 2.0

    chosen = before.views[np.isfinite(before.points[:, 0])]  # the old fit: the chosen views only
    chosen_only, _ = refine_rotations(cameras, points, pixels, chosen, max_deg=3.5)
    assert np.degrees(Rotation.from_matrix(chosen_only[2].R @ truth[2].R.T).magnitude()) > 1.0


def test_a_mid_point_marker_has_its_own_reprojection_error(cameras):
    """midHip's error is its projection against the mid-hip pixels: opposite errors of the two
    hips cancel there, so it is far below the mean of the hips' errors; a one-landmark
    marker's error is its landmark's."""
    from depthrefine.markers.markersets import load_markerset
    from depthrefine.multiview.reference import landmarks_to_reference_markers

    ms = load_markerset(Path(__file__).parents[1] / "config/markersets/blazepose.yaml")
    X = body()
    px = project(cameras, X)
    px[23, :, 0] += 6.0  # the left hip 6 px to the right in every view, the right hip to the left
    px[24, :, 0] -= 6.0
    tri = triangulate(cameras, px, np.ones((33, 4), dtype=bool), gate_px=50.0, min_views=3)
    markers = landmarks_to_reference_markers(tri, px, cameras, 1, ms)
    names = list(ms.names)
    hips = tri.error_px[[23, 24]].mean()
    assert hips > 3.0
    assert markers["error_px"][0, names.index("midHip")] < 0.1 * hips
    assert markers["error_px"][0, names.index("LHip")] == pytest.approx(tri.error_px[23])
    np.testing.assert_allclose(markers["xyz"][0, names.index("midHip")], tri.points[[23, 24]].mean(axis=0))
    assert markers["views"][0, names.index("midHip")] == 4


def test_people_are_named_by_how_much_of_them_is_referenced():
    from depthrefine.multiview.reference import Person, ranked

    def person(name, dropped):
        xyz = np.zeros((10, 18, 3))
        xyz[:dropped] = np.nan
        none = np.zeros(0)
        return Person(name, none, none, none, none, none, none, markers={"xyz": xyz})

    people = ranked([person("p0", 5), person("p1", 2), person("p2", 8)])
    assert [p.name for p in people] == ["p0", "p1", "p2"]
    assert [int(np.isnan(p.markers["xyz"][:, 0, 0]).sum()) for p in people] == [2, 5, 8]


def test_a_session_in_pose2sims_project_layout(tmp_path, cameras):
    """videos/ and calibration/ subfolders; the project's Config.toml is not a calibration."""
    s = tmp_path / "Demo"
    (s / "videos").mkdir(parents=True)
    (s / "calibration").mkdir()
    for name in ("cam01", "cam02"):
        (s / "videos" / f"{name}.mp4").write_bytes(b"")
    (s / "Config.toml").write_text('[project]\nmulti_person = false\n[pose]\npose_model = "HALPE_26"\n')
    write_toml(cameras[:2], s / "calibration" / "Calib_scene.toml")
    calibration, videos = find_sessions(tmp_path)["Demo"]
    assert calibration == s / "calibration" / "Calib_scene.toml"
    assert list(videos) == ["cam01", "cam02"] and videos["cam01"].parent.name == "videos"
    (s / "calibration" / "Calib_other.qca.txt").write_text("")
    with pytest.raises(DataError, match="exactly one calibration.*Calib_other.qca.txt"):
        find_sessions(tmp_path)


def test_a_video_cropped_or_scaled_from_its_calibration(cameras):
    """1080 wide against a 1088-wide calibration: the same pixel grid; half resolution: the
    intrinsics halve, and a point projects to half its pixel; any other size is an error."""
    from depthrefine.multiview.calibration import fitted_to_video

    cam = cameras[1]
    X = body()[[0, 27]]
    cropped = fitted_to_video(cam, (1080, 1920), "calib")
    assert cropped.size == (1080, 1920) and np.array_equal(cropped.K, cam.K)
    half = fitted_to_video(cam, (544, 960), "calib")
    np.testing.assert_allclose(half.project(X), cam.project(X) / 2, atol=1e-9)
    assert fitted_to_video(cam, cam.size, "calib") is cam
    with pytest.raises(DataError, match="calibrated at 1088x1920 pixels but its video is 1920x1080"):
        fitted_to_video(cam, (1920, 1080), "calib")


def test_the_summary_has_each_sessions_own_mean(tmp_path):
    """Two sessions (the lab and a held-out clip): besides the pooled mean, each session's own,
    in the JSON and on the page."""
    import json

    from depthrefine.evaluation.realval import realval_summary

    def scores(depth):
        return {
            "depth_mm": depth,
            "mpjpe_mm": depth + 40,
            "mpjpe_rigid_mm": depth,
            "jitter_mm": 2.0,
            "bone_cv_pct": 1.0,
        }

    reports, qcs = [], []
    for session, depths in (("lab", (100.0, 120.0)), ("walk", (60.0, 80.0))):
        for k, depth in enumerate(depths):
            path = tmp_path / f"{session}{k}.json"
            recording = f"{session}@cam0{k}@p0"
            path.write_text(
                json.dumps(
                    {
                        "recording": recording,
                        "capture": {"pair": {"session": session, "camera": f"cam0{k}", "person": "p0"}},
                        "against_reference": {
                            "frames": 50,
                            "reference": {},
                            "estimates": {"raw": scores(depth + 20), "refined": scores(depth)},
                        },
                    }
                )
            )
            reports.append(str(path))
        qc = tmp_path / f"{session}-qc.json"
        person = {
            "median_reproj_px": 9.0,
            "kept_fraction": 0.97,
            "frame_coverage": 0.9,
            "frames_associated": 90,
            "bone_cv_pct": 6.0,
        }
        qc.write_text(json.dumps({"session": session, "people": {"p0": person}, "pairs": []}))
        qcs.append(str(qc))
    out = realval_summary(reports, qcs, str(tmp_path / "rv.json"), str(tmp_path / "rv.html"), fit_pairs=["lab@*@p0"])
    per_session = out["summary_per_session"]
    assert per_session["lab"]["refined"]["depth_mm"]["mean"] == pytest.approx(110.0)
    assert per_session["walk"]["refined"]["depth_mm"]["mean"] == pytest.approx(70.0)
    assert out["summary"]["refined"]["depth_mm"]["mean"] == pytest.approx(90.0)
    assert out["summary_held_out"]["refined"]["depth_mm"]["mean"] == pytest.approx(70.0)  # the other session's p0
    page = (tmp_path / "rv.html").read_text()
    assert "Session lab: mean ± sd over its 2 pairs" in page and "Session walk" in page
