"""BVH reading and forward kinematics: real files, hand-checkable cases, round trips, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from depthrefine.errors import DataError
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import euler_matrices, forward_kinematics

TWO_JOINT = """HIERARCHY
ROOT Hips
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition {root_order}
  JOINT Arm
  {{
    OFFSET 1 0 0
    CHANNELS 3 {child_order}
    End Site
    {{
      OFFSET 2 0 0
    }}
  }}
}}
MOTION
Frames: {n}
Frame Time: 0.0083333
{rows}
"""


def two_joint(
    tmp_path, rows, root_order="Zrotation Yrotation Xrotation", child_order="Zrotation Yrotation Xrotation", n=None
):
    text = TWO_JOINT.format(
        root_order=root_order, child_order=child_order, n=len(rows) if n is None else n, rows="\n".join(rows)
    )
    path = tmp_path / "two.bvh"
    path.write_text(text)
    return path


def test_reads_cmu_01_01(bvh_01_01):
    motion = read_bvh(bvh_01_01)
    sk = motion.skeleton
    assert motion.values.shape == (2752, 96)
    assert motion.fps == pytest.approx(120.0, rel=1e-4)
    assert sk.names[:6] == ("Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase")
    assert len([n for n in sk.names if not n.endswith("_End")]) == 31
    assert sk.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
    # First value row of the file, as printed in it.
    assert motion.values[0, :3] == pytest.approx([9.3722, 17.8693, -17.3198])
    assert sk.offsets[sk.index("LeftLeg")] == pytest.approx([2.44811, -6.72613, 0.0])


def test_child_rotated_90_degrees_lands_where_expected(tmp_path):
    # Root at (1, 2, 3), no root rotation; Arm rotated +90° about Z: the end site's offset
    # (2, 0, 0) turns to (0, 2, 0) and is added to the Arm's position (root + (1, 0, 0)).
    path = two_joint(tmp_path, ["1 2 3 0 0 0 90 0 0"])
    motion = read_bvh(path)
    pos, rot = forward_kinematics(motion.skeleton, motion.values)
    assert pos[0, 0] == pytest.approx([1, 2, 3])
    assert pos[0, 1] == pytest.approx([2, 2, 3])
    assert pos[0, 2] == pytest.approx([2, 4, 3])
    assert rot[0, 1] == pytest.approx(Rotation.from_euler("z", 90, degrees=True).as_matrix())


def test_root_rotation_carries_children(tmp_path):
    # Root rotated -90° about Y: its x axis goes to +z, so Arm at (0,0,1) and the end at (0,0,3).
    path = two_joint(tmp_path, ["0 0 0 0 -90 0 0 0 0"])
    motion = read_bvh(path)
    pos, _ = forward_kinematics(motion.skeleton, motion.values)
    assert pos[0, 1] == pytest.approx([0, 0, 1], abs=1e-12)
    assert pos[0, 2] == pytest.approx([0, 0, 3], abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    order=st.permutations("XYZ").map("".join),
    angles=st.lists(st.floats(-180, 180), min_size=3, max_size=3),
)
def test_euler_matrices_match_scipy_intrinsic(order, angles):
    ours = euler_matrices(order, np.deg2rad(np.array([angles])))[0]
    ref = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()
    assert ours == pytest.approx(ref, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    root_order=st.permutations(["Xrotation", "Yrotation", "Zrotation"]),
    child_order=st.permutations(["Xrotation", "Yrotation", "Zrotation"]),
    values=st.lists(st.lists(st.floats(-170, 170), min_size=9, max_size=9), min_size=1, max_size=5),
)
def test_any_channel_order_round_trips_and_matches_per_frame_reference(
    tmp_path_factory, root_order, child_order, values
):
    tmp = tmp_path_factory.mktemp("order")
    rows = [" ".join(f"{v:.6f}" for v in row) for row in values]
    path = two_joint(tmp, rows, " ".join(root_order), " ".join(child_order))
    motion = read_bvh(path)
    assert motion.values == pytest.approx(np.array([[float(f"{v:.6f}") for v in r] for r in values]))
    pos, _ = forward_kinematics(motion.skeleton, motion.values)
    for f, row in enumerate(motion.values):  # the plain per-frame definition, with scipy
        r_root = Rotation.from_euler("".join(c[0] for c in root_order), row[3:6], degrees=True).as_matrix()
        r_arm = Rotation.from_euler("".join(c[0] for c in child_order), row[6:9], degrees=True).as_matrix()
        arm = row[:3] + r_root @ [1, 0, 0]
        end = arm + r_root @ r_arm @ [2, 0, 0]
        assert pos[f, 1] == pytest.approx(arm, abs=1e-9)
        assert pos[f, 2] == pytest.approx(end, abs=1e-9)


def test_fk_of_cmu_matches_per_frame_reference(bvh_01_01):
    motion = read_bvh(bvh_01_01)
    sk = motion.skeleton
    pos, _ = forward_kinematics(sk, motion.values)
    for f in (0, 1, 1000, 2751):
        glob_r, glob_p, col = {}, {}, 0
        for j, (name, parent, chans) in enumerate(zip(sk.names, sk.parents, sk.channels)):
            vals = motion.values[f, col : col + len(chans)]
            col += len(chans)
            t = sk.offsets[j] + (vals[:3] if len(chans) == 6 else 0)
            rot_ch = [c[0] for c in chans if c.endswith("rotation")]
            rot_v = vals[3:] if len(chans) == 6 else vals
            local = Rotation.from_euler("".join(rot_ch), rot_v, degrees=True).as_matrix() if rot_ch else np.eye(3)
            if parent < 0:
                glob_r[j], glob_p[j] = local, t
            else:
                glob_r[j], glob_p[j] = glob_r[parent] @ local, glob_p[parent] + glob_r[parent] @ t
            assert pos[f, j] == pytest.approx(glob_p[j], abs=1e-9), (f, name)


# ---- bad input: each names the file, the line or frame, and what was expected -----------
def test_truncated_file(tmp_path, bvh_01_01):
    text = bvh_01_01.read_text()
    path = tmp_path / "trunc.bvh"
    path.write_text(text[: len(text) - 500])  # cuts the last frame mid-row
    with pytest.raises(
        DataError, match=r"trunc\.bvh, line \d+, frame \d+: \d+ values in this frame, but the hierarchy declares 96"
    ):
        read_bvh(path)


def test_truncated_inside_hierarchy(tmp_path, bvh_01_01):
    path = tmp_path / "cut.bvh"
    path.write_text(bvh_01_01.read_text()[:1500])
    with pytest.raises(DataError, match=r"cut\.bvh.*MOTION"):
        read_bvh(path)


def test_fewer_frames_than_declared(tmp_path):
    path = two_joint(tmp_path, ["0 0 0 0 0 0 0 0 0"] * 3, n=5)
    with pytest.raises(DataError, match=r"two\.bvh, line \d+: declares 5 frames but holds 3"):
        read_bvh(path)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_values(tmp_path, bad):
    path = two_joint(tmp_path, ["0 0 0 0 0 0 0 0 0", f"0 0 0 0 0 0 0 {bad} 0"])
    with pytest.raises(
        DataError, match=r"two\.bvh, line 20, frame 1: non-finite value in channel 7 \(Arm\.Yrotation\)"
    ):
        read_bvh(path)


def test_channel_count_mismatch(tmp_path):
    path = two_joint(tmp_path, ["0 0 0 0 0 0 0 0 0 0", "0 0 0 0 0 0 0 0 0 0"])
    with pytest.raises(DataError, match=r"10 values per frame, but the hierarchy declares 9 channels"):
        read_bvh(path)


def test_zero_frames(tmp_path):
    path = two_joint(tmp_path, [], n=0)
    with pytest.raises(DataError, match=r"two\.bvh, line 19: zero frames of motion"):
        read_bvh(path)


def test_not_a_bvh_file(tmp_path):
    text_file = tmp_path / "notes.bvh"
    text_file.write_text("subject 01, trial 01\n")
    with pytest.raises(DataError, match=r"notes\.bvh, line 1: not a BVH file: expected it to start with HIERARCHY"):
        read_bvh(text_file)
    binary = tmp_path / "image.bvh"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(DataError, match=r"image\.bvh: not a text file"):
        read_bvh(binary)


def test_unknown_channel_and_bad_offset(tmp_path):
    text = TWO_JOINT.format(
        root_order="Zrotation Yrotation Wrotation", child_order="Zrotation Yrotation Xrotation", n=1, rows="0 " * 9
    )
    (tmp_path / "w.bvh").write_text(text)
    with pytest.raises(DataError, match=r"w\.bvh, line 5: unknown channel 'Wrotation'"):
        read_bvh(tmp_path / "w.bvh")
    text = TWO_JOINT.format(
        root_order="Zrotation Yrotation Xrotation", child_order="Zrotation Yrotation Xrotation", n=1, rows="0 " * 9
    )
    (tmp_path / "o.bvh").write_text(text.replace("OFFSET 1 0 0", "OFFSET 1 zero 0"))
    with pytest.raises(DataError, match=r"o\.bvh, line 8: expected a number, found 'zero'"):
        read_bvh(tmp_path / "o.bvh")


def test_position_channels_on_a_joint_replace_its_offset(tmp_path, bvh_01_01):
    """Six channels on every joint (Bandai-Namco, MotionBuilder exports) repeat the OFFSET in
    the position channels: the bones must keep their length, not double."""
    import re

    text = bvh_01_01.read_text()
    head, motion = text.split("MOTION\n", 1)
    lines = motion.splitlines()
    sk = read_bvh(bvh_01_01).skeleton
    frames = np.loadtxt(lines[2:5], ndmin=2)  # the first three frames
    # Give LeftUpLeg and LeftLeg position channels holding their offsets.
    widened, out_cols, col = [], [], 0
    for name, chans in zip(sk.names, sk.channels):
        if name in ("LeftUpLeg", "LeftLeg"):
            out_cols.append(np.repeat(sk.offsets[sk.index(name)][None], len(frames), axis=0))
        out_cols.append(frames[:, col : col + len(chans)])
        col += len(chans)
    for name in ("LeftUpLeg", "LeftLeg"):
        head = re.sub(
            rf"(JOINT {name}\s*\{{\s*OFFSET [^\n]*\n\s*)CHANNELS 3 ",
            r"\1CHANNELS 6 Xposition Yposition Zposition ",
            head,
        )
        widened.append(name)
    body = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in np.concatenate(out_cols, axis=1))
    path = tmp_path / "six.bvh"
    path.write_text(f"{head}MOTION\nFrames: {len(frames)}\nFrame Time: 0.008333\n{body}\n")
    six = read_bvh(path)
    assert [len(c) for n, c in zip(six.skeleton.names, six.skeleton.channels) if n in widened] == [6, 6]
    three, _ = forward_kinematics(sk, frames)
    pos, _ = forward_kinematics(six.skeleton, six.values)
    assert pos == pytest.approx(three, abs=1e-4)
