"""The camera's up direction settles the body's lean in depth (capture/upright.py)."""

from pathlib import Path

import numpy as np
import pytest

from depthrefine.capture.upright import body_axis, camera_up, nearer_upright

REPO = Path(__file__).resolve().parents[1]
STANDING = {  # metres, world: x right of the camera, y away from it, z up
    "Neck": (0.0, 0.0, 1.45),
    "RShoulder": (-0.18, 0.0, 1.42),
    "LShoulder": (0.18, 0.0, 1.42),
    "RElbow": (-0.22, 0.03, 1.14),
    "LElbow": (0.22, -0.03, 1.14),
    "RWrist": (-0.24, 0.10, 0.88),
    "LWrist": (0.24, -0.08, 0.88),
    "midHip": (0.0, 0.0, 0.95),
    "RHip": (-0.10, 0.0, 0.95),
    "LHip": (0.10, 0.0, 0.95),
    "RKnee": (-0.10, 0.06, 0.52),
    "LKnee": (0.10, -0.06, 0.52),
    "RAnkle": (-0.10, 0.0, 0.09),
    "LAnkle": (0.10, -0.08, 0.09),
    "RHeel": (-0.10, -0.05, 0.03),
    "LHeel": (0.10, -0.13, 0.03),
    "RBigToe": (-0.12, 0.17, 0.02),
    "LBigToe": (0.12, 0.09, 0.02),
}
NAMES = list(STANDING)


def _camera(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """World → camera rotation of a camera looking along world +y, pitched down, then rolled."""
    t, r = np.radians(pitch_deg), np.radians(roll_deg)
    level_pitched = np.array([[1.0, 0, 0], [0, -np.sin(t), -np.cos(t)], [0, np.cos(t), -np.sin(t)]])
    roll = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1.0]])
    return roll @ level_pitched


@pytest.mark.parametrize("pitch, roll", [(0.0, 0.0), (22.0, 0.0), (-10.0, 0.0), (18.0, 25.0)])
def test_camera_up_is_the_world_up_seen_by_a_pitched_and_rolled_camera(pitch, roll):
    R = _camera(pitch, roll)
    assert R[2] @ [0, 0, 1] <= 1e-12 or pitch < 0  # pitched down: the optical axis points below the horizon
    assert np.allclose(camera_up(pitch, roll), R @ [0.0, 0.0, 1.0], atol=1e-12)


def _walking_in_camera(pitch_deg: float, frames: int = 90, camera_height: float = 1.9) -> np.ndarray:
    """The standing body with swinging limbs, 4 m in front of a camera at ``camera_height``,
    pitched down; (F, M, 3) camera frame."""
    base = np.array([STANDING[n] for n in NAMES])
    phase = np.sin(np.linspace(0, 2 * np.pi, frames))[:, None]
    swing = np.zeros((frames, len(NAMES), 3))
    for name, sign in (("RWrist", 1), ("LWrist", -1), ("RAnkle", -1), ("LAnkle", 1), ("RKnee", -0.5), ("LKnee", 0.5)):
        swing[:, NAMES.index(name), 1] = 0.15 * sign * phase[:, 0]
    world = base[None] + swing + np.array([0.0, 4.0, 0.0])
    R = _camera(pitch_deg)
    centre = np.array([0.0, 0.0, camera_height])
    return (world - centre) @ R.T


def _mirror_lean(xyz: np.ndarray) -> np.ndarray:
    """The same frames leaning the other way in depth: each frame's long axis mirrored about
    the plane perpendicular to its line of sight, by a rotation about the hips (what
    BlazePose gets wrong)."""
    from scipy.spatial.transform import Rotation

    out = np.empty_like(xyz)
    hips = xyz[:, [NAMES.index("LHip"), NAMES.index("RHip")]].mean(axis=1)
    for f in range(len(xyz)):
        sight = hips[f] / np.linalg.norm(hips[f])
        axis = body_axis(xyz[f : f + 1], NAMES)
        normal = np.cross(sight, axis)
        normal /= np.linalg.norm(normal)
        off_perpendicular = np.arcsin(axis @ sight)  # the axis' angle out of the plane ⊥ the sight
        R = Rotation.from_rotvec(2 * off_perpendicular * normal).as_matrix()  # away from the sight by twice
        out[f] = hips[f] + (xyz[f] - hips[f]) @ R.T
    return out


def test_a_body_leaning_the_wrong_way_in_depth_is_turned_back():
    """An upright clip filmed from 20° above, planted with the mirrored lean (the image line
    of the body stays), is turned back exactly; the true clip is left as it is."""
    true = _walking_in_camera(pitch_deg=20.0)
    rays = true[..., :2] / true[..., 2:]
    wrong = _mirror_lean(true)
    sight = np.array([0.0, 0.0, 1.0])  # the mirrored axis projects alike; the depth is far off
    along = body_axis(true, NAMES) - sight * (body_axis(true, NAMES) @ sight)
    assert np.cross(along, body_axis(wrong, NAMES))[2] == pytest.approx(0.0, abs=0.02)
    assert np.abs(wrong[..., 2] - true[..., 2]).mean() > 0.1
    up = camera_up(20.0)

    turned, info = nearer_upright(wrong, rays, NAMES, up, fps=60.0)
    assert info["turned_frames"] == info["frames"] == len(true)
    assert info["lean_deg"] > 20 and info["lean_after_deg"] < 3
    assert np.abs(turned - true).max() < 1e-6

    kept, info = nearer_upright(true, rays, NAMES, up, fps=60.0)
    assert not info["turned"] and info["turned_frames"] == 0 and info["lean_deg"] < 3
    assert kept is true


def test_a_lean_that_flips_part_way_is_turned_back_where_it_is_wrong():
    """BlazePose flips the lean for stretches of frames: from frame 40 on here. Only those
    frames are turned; a flip shorter than MIN_RUN_S (5 frames) is taken for noise."""
    true = _walking_in_camera(pitch_deg=20.0)
    rays = true[..., :2] / true[..., 2:]
    wrong = _mirror_lean(true)
    up = camera_up(20.0)
    flipped = np.concatenate([true[:40], wrong[40:]])
    out, info = nearer_upright(flipped, rays, NAMES, up, fps=60.0)
    assert info["turned_frames"] == len(true) - 40
    assert np.abs(out - true).max() < 1e-6
    brief = np.concatenate([true[:40], wrong[40:45], true[45:]])
    out, info = nearer_upright(brief, rays, NAMES, up, fps=60.0)
    assert info["turned_frames"] == 0 and out is brief


def test_leans_that_straddle_upright_are_left_as_they_are():
    """Filmed from the body's height, a body leaning 6° in depth and its mirror (leaning the
    other way) are about as far from upright (7.7° and 6.3° here): the mirror is not MARGIN_DEG
    nearer and nothing is turned (with no margin every frame would be) — noise would decide."""
    from scipy.spatial.transform import Rotation

    from depthrefine.capture.upright import MARGIN_DEG

    true = _walking_in_camera(pitch_deg=0.0, camera_height=1.0)
    hips = true[:, [NAMES.index("LHip"), NAMES.index("RHip")]].mean(axis=1, keepdims=True)
    towards = Rotation.from_rotvec([np.radians(-6.0), 0.0, 0.0]).as_matrix()
    leaning = hips + (true - hips) @ towards.T
    rays = leaning[..., :2] / leaning[..., 2:]
    out, info = nearer_upright(leaning, rays, NAMES, camera_up(0.0), fps=60.0)
    assert info["mirrored_lean_deg"] < info["lean_deg"] < info["mirrored_lean_deg"] + MARGIN_DEG
    assert info["turned_frames"] == 0 and out is leaning


def test_the_choice_follows_the_camera_up_not_a_fixed_side():
    """The same planted clip with the camera's up given as if it were pitched up instead:
    then the wrong lean is the nearer one and is kept — the up direction decides."""
    true = _walking_in_camera(pitch_deg=20.0)
    rays = true[..., :2] / true[..., 2:]
    wrong = _mirror_lean(true)
    mirrored_up = camera_up(-20.0)
    _, info = nearer_upright(wrong, rays, NAMES, mirrored_up, fps=60.0)
    assert not info["turned"]


def test_the_lean_needs_the_shoulders_hips_and_ankles():
    xyz = _walking_in_camera(10.0)
    keep = [i for i, n in enumerate(NAMES) if n != "LAnkle"]
    with pytest.raises(ValueError, match="LAnkle"):
        nearer_upright(
            xyz[:, keep], xyz[:, keep, :2] / xyz[:, keep, 2:], [NAMES[i] for i in keep], camera_up(10.0), fps=60.0
        )


def test_config_cameras_give_the_up_of_the_first_matching_entry():
    from depthrefine.settings import camera_up_for, config_section

    cameras = {"lab-*": {"pitch_deg": 20.0, "roll_deg": -5.0}, "*": {"pitch_deg": 0.0}}
    assert np.allclose(camera_up_for("lab-two-people@cam04@p1", cameras), camera_up(20.0, -5.0))
    assert np.allclose(camera_up_for("joey", cameras), [0.0, -1.0, 0.0])
    assert camera_up_for("joey", {}) is None
    assert config_section("multiview", {})["world_up"] == [0, 0, 1]


def test_the_session_up_is_the_calibrations_unless_the_people_stand_another_way(caplog):
    """z-up calibrations (Qualisys, Pose2Sim) give their z; a world frame that is not z-up
    (Anipose's is its first camera's) is caught by the people's ankle → shoulder direction."""
    from depthrefine.multiview.stages import session_up

    people = [0.01, 0.14, 0.99]  # the lab session's: 8° from z (the man bends forward)
    up, source = session_up([0, 0, 1], people)
    assert np.allclose(up, [0, 0, 1]) and "calibration" in source
    with caplog.at_level("WARNING"):
        up, source = session_up([0, 0, 1], [0.0, -0.99, 0.14])  # a y-down world, as a camera's frame
    assert np.allclose(up, np.array([0.0, -0.99, 0.14]) / np.linalg.norm([0.0, -0.99, 0.14]))
    assert "people" in source and "world_up" in caplog.text
    assert np.allclose(session_up(None, people)[0], np.array(people) / np.linalg.norm(people))
    assert session_up(None, None) == (None, "unknown")
    assert np.allclose(session_up([0, 0, 2], None)[0], [0, 0, 1])


def test_the_floor_below_a_camera_of_known_height_gives_the_bodys_scale():
    """A walking body filmed from 1.9 m, 20° down, given 1.25 × too large (and so 1.25 × too
    far along its rays, the same image): the floor 1.9 m below the camera scales it back,
    and scaled about the camera centre every marker stays on its ray."""
    from depthrefine.capture.floor import scale_to_floor

    true = _walking_in_camera(pitch_deg=20.0)
    feet = np.array([NAMES.index(n) for n in ("RHeel", "LHeel", "RBigToe", "LBigToe")])
    too_big = 1.25 * true
    found = scale_to_floor(too_big, feet, camera_up(20.0), camera_height_m=1.9, stance_height_m=0.02)
    assert found.scale == pytest.approx(1 / 1.25, rel=1e-6) and found.stance_frames > 0
    back = found.scale * too_big
    assert np.allclose(back, true) and np.allclose(back[..., :2] / back[..., 2:], true[..., :2] / true[..., 2:])
    # The default stance height (3 cm; these toes stand at 2): 1 cm off is 0.5 % at 1.9 m.
    assert scale_to_floor(too_big, feet, camera_up(20.0), 1.9).scale == pytest.approx(1 / 1.25, rel=0.01)
    # The pitch matters: 1° off moves the feet's height by their distance × 1°, the scale by
    # 4 % here (4 m away, 1.9 m below): a calibration's, or a phone level's, not a guess.
    one_degree_off = scale_to_floor(too_big, feet, camera_up(21.0), 1.9).scale
    assert 0.02 < abs(one_degree_off * 1.25 - 1) < 0.06


def test_the_floor_refuses_what_it_cannot_decide():
    from depthrefine.capture.floor import scale_to_floor

    true = _walking_in_camera(pitch_deg=20.0)
    feet = np.array([NAMES.index(n) for n in ("RHeel", "LHeel", "RBigToe", "LBigToe")])
    with pytest.raises(ValueError, match="graze"):
        scale_to_floor(true, feet, camera_up(20.0), camera_height_m=0.25)  # a camera on the floor
    with pytest.raises(ValueError, match="above the camera"):
        scale_to_floor(true, feet, -camera_up(20.0), camera_height_m=1.9)  # the up upside down
    with pytest.raises(ValueError, match="outside"):
        scale_to_floor(true, feet, camera_up(20.0), camera_height_m=19.0)  # centimetres typed as decimetres
    with pytest.raises(ValueError, match="no foot markers"):
        scale_to_floor(true, np.array([], int), camera_up(20.0), camera_height_m=1.9)
    seen = np.ones(true.shape[:2])
    assert scale_to_floor(true, feet, camera_up(20.0), 1.9, visibility=seen).stance_visibility == 1.0
    seen[:, feet] = 0.2  # feet out of the frame: the detector guesses them
    with pytest.raises(ValueError, match="visibility of 0.20"):
        scale_to_floor(true, feet, camera_up(20.0), camera_height_m=1.9, visibility=seen)


def test_config_cameras_give_the_height_of_the_first_matching_entry():
    from depthrefine.settings import camera_height_for

    cameras = {"lab-*": {"pitch_deg": 20.0, "height_m": 1.9}, "*": {"pitch_deg": 0.0}}
    assert camera_height_for("lab-two-people@cam04@p1", cameras) == 1.9
    assert camera_height_for("joey", cameras) is None and camera_height_for("joey", {}) is None


def test_a_pairs_camera_height_is_the_calibrations_only():
    """The camera centre's height above the calibration's floor, with the calibration's up; the
    people's up direction says nothing of where that floor is, and an unknown floor gives none."""
    from depthrefine.multiview.stages import camera_height

    centre, z = np.array([2.0, -3.0, 1.9]), np.array([0, 0, 1.0])
    calibration = "the calibration (multiview.world_up)"
    assert camera_height(centre, z, calibration, 0.0) == 1.9
    assert camera_height(centre, z, calibration, 0.1) == pytest.approx(1.8)
    assert camera_height(centre, z, "the people's mean ankle → shoulder direction", 0.0) is None
    assert camera_height(centre, z, calibration, None) is None
    assert camera_height(centre, None, "unknown", 0.0) is None


def test_the_peoples_feet_veto_a_calibration_floor_that_is_elsewhere(caplog):
    """The reference's feet say where the floor is; they only veto the configured one (a world
    origin on a table), they never move it."""
    from types import SimpleNamespace

    from depthrefine.markers.markersets import load_markerset
    from depthrefine.multiview.stages import camera_height, people_floor

    ms = load_markerset(REPO / "config/markersets/blazepose.yaml")
    standing = np.array([STANDING[n] for n in ms.names])  # toes 2 cm, heels 3 cm above z = 0
    person = SimpleNamespace(markers={"xyz": np.repeat(standing[None], 50, axis=0)})
    on_a_table = SimpleNamespace(markers={"xyz": np.repeat((standing - [0, 0, 0.75])[None], 50, axis=0)})
    assert people_floor([person], ms, [0, 0, 1]) == pytest.approx(0.02 - 0.03)
    assert people_floor([person], ms, None) is None
    centre, z, calibration = np.array([0.0, 0.0, 1.9]), np.array([0, 0, 1.0]), "the calibration (multiview.world_up)"
    assert camera_height(centre, z, calibration, 0.0, people_floor([person], ms, [0, 0, 1])) == 1.9
    with caplog.at_level("WARNING"):
        assert camera_height(centre, z, calibration, 0.0, people_floor([on_a_table], ms, [0, 0, 1])) is None
    assert "floor_height_m" in caplog.text
