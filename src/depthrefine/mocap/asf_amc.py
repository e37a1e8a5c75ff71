"""The original CMU format: ASF skeleton + AMC motion, and its forward kinematics.

Acclaim convention (as in CMU's own tools): a bone's local rotation is C·M·C⁻¹, with C
from the ASF ``axis`` and M from the AMC dof values, both applied X first, then Y, then Z
(matrix Rz·Ry·Rx). A bone's end is its parent's end plus ``length · R · direction``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthrefine.errors import DataError
from depthrefine.mocap.kinematics import _euler_soa


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray  # (3,) unit vector, global axes at rest
    length: float  # file units
    axis_deg: np.ndarray  # (3,)
    axis_order: str
    dof: tuple[str, ...]
    parent: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class AsfSkeleton:
    path: str
    length_scale: float  # the ASF ":units length" value; one file unit = (1 / scale) inch
    angle_unit: str
    root_order: tuple[str, ...]
    root_axis: str
    bones: dict[str, AsfBone]  # includes "root" (zero length)


def read_asf(path: str | Path) -> AsfSkeleton:
    path = str(path)
    lines = Path(path).read_text(encoding="latin-1").splitlines()  # see read_amc
    units = {"length": 1.0, "angle": "deg"}
    bones: dict[str, AsfBone] = {}
    root_order: tuple[str, ...] = ("TX", "TY", "TZ", "RX", "RY", "RZ")
    root_axis = "XYZ"
    section = None
    current: dict | None = None
    for n, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            section = line.split()[0][1:]
            continue
        words = line.split()
        try:
            if section == "units":
                units[words[0]] = float(words[1]) if words[0] != "angle" else words[1]
            elif section == "root":
                if words[0] == "order":
                    root_order = tuple(w.upper() for w in words[1:])
                elif words[0] == "axis":
                    root_axis = words[1].upper()
            elif section == "bonedata":
                if words[0] == "begin":
                    current = {"dof": ()}
                elif words[0] == "end":
                    bones[current["name"]] = AsfBone(
                        current["name"],
                        current["direction"],
                        current["length"],
                        current["axis"],
                        current["axis_order"],
                        current["dof"],
                    )
                    current = None
                elif current is not None and words[0] == "name":
                    current["name"] = words[1]
                elif current is not None and words[0] == "direction":
                    current["direction"] = np.array([float(w) for w in words[1:4]])
                elif current is not None and words[0] == "length":
                    current["length"] = float(words[1])
                elif current is not None and words[0] == "axis":
                    current["axis"] = np.array([float(w) for w in words[1:4]])
                    current["axis_order"] = words[4].upper()
                elif current is not None and words[0] == "dof":
                    current["dof"] = tuple(w.lower() for w in words[1:])
            elif section == "hierarchy" and words[0] not in ("begin", "end"):
                parent, children = words[0], words[1:]
                for child in children:
                    if child not in bones:
                        raise DataError(path, f"hierarchy names unknown bone {child!r}", line=n)
                    bones[child].parent = parent
                if parent != "root":
                    bones[parent].children.extend(children)
        except (IndexError, ValueError, KeyError) as exc:
            raise DataError(path, f"malformed ASF line ({exc})", line=n) from None
    if units.get("angle", "deg") not in ("deg", "rad"):
        raise DataError(path, f"unknown angle unit {units['angle']!r}; expected deg or rad")
    bones["root"] = AsfBone("root", np.zeros(3), 0.0, np.zeros(3), root_axis, ())
    return AsfSkeleton(path, float(units["length"]), str(units["angle"]), root_order, root_axis, bones)


def read_amc(path: str | Path, skeleton: AsfSkeleton) -> dict[str, np.ndarray]:
    """Per-bone dof values (F, ndof) in file order; root gets its 6 values."""
    path = str(path)
    rows: dict[str, list[list[float]]] = {}
    frame = -1
    # Latin-1 decodes any byte: the format is ASCII, but comment headers are not always
    # (HDM05's AMC headers hold a Latin-1 'ü'); a non-ASCII byte outside a comment still
    # fails below as a value that is not a number, naming the line.
    with open(path, encoding="latin-1") as fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line[0] in "#:":
                continue
            words = line.split()
            if len(words) == 1 and words[0].isdigit():
                frame += 1
                continue
            name = words[0]
            if name not in skeleton.bones:
                raise DataError(path, f"bone {name!r} is not in {skeleton.path}", line=n, frame=frame)
            width = 6 if name == "root" else len(skeleton.bones[name].dof)
            if len(words) - 1 != width:
                raise DataError(path, f"{len(words) - 1} values for {name!r}, expected {width}", line=n, frame=frame)
            rows.setdefault(name, []).append([float(w) for w in words[1:]])
    if frame < 0:
        raise DataError(path, "zero frames of motion")
    out = {name: np.asarray(v, dtype=np.float64) for name, v in rows.items()}
    for name, v in out.items():
        if v.shape[0] != frame + 1:
            raise DataError(path, f"bone {name!r} appears in {v.shape[0]} of {frame + 1} frames")
    return out


def _rotation(order_letters: str, angles: dict[str, np.ndarray], n: int, to_rad: float) -> np.ndarray:
    """Rz·Ry·Rx-style matrices (3, 3, n) for the X-then-Y-then-Z Acclaim convention."""
    letters = "".join(order_letters)
    cols = np.stack([angles.get(a, np.zeros(n)) for a in letters], axis=1) * to_rad
    # X first, then Y, then Z acting on column vectors = intrinsic product in reversed order.
    return _euler_soa(letters[::-1], cols[:, ::-1])


def _forward_kinematics(skeleton: AsfSkeleton, motion: dict[str, np.ndarray]):
    """(bone names parents first, bone → (F, 3) end positions in file units, bone → (3, 3, F)
    global rotations)."""
    to_rad = np.pi / 180.0 if skeleton.angle_unit == "deg" else 1.0
    root = motion["root"]
    n = root.shape[0]
    root_vals = {ch: root[:, k] for k, ch in enumerate(skeleton.root_order)}
    root_rot = _rotation(skeleton.root_axis, {ax: root_vals.get("R" + ax, np.zeros(n)) for ax in "XYZ"}, n, to_rad)
    pos = {"root": np.stack([root_vals.get("T" + ax, np.zeros(n)) for ax in "XYZ"], axis=1)}
    rot = {"root": root_rot}
    order = ["root"]
    i = 0
    while i < len(order):  # breadth-first so that parents come first
        parent = order[i]
        order.extend(b.name for b in skeleton.bones.values() if b.parent == parent)
        i += 1
    for name in order[1:]:
        bone = skeleton.bones[name]
        c = _rotation(bone.axis_order, dict(zip("XYZ", bone.axis_deg[:, None] * np.ones((3, n)))), n, to_rad)
        values = motion.get(name)
        dof_angles = {d[1].upper(): values[:, k] for k, d in enumerate(bone.dof)} if values is not None else {}
        m = _rotation("XYZ", dof_angles, n, to_rad)
        c_inv = c.transpose(1, 0, 2)
        r = np.einsum("ijn,jkn,kln,lmn->imn", rot[bone.parent], c, m, c_inv, optimize=True)
        rot[name] = r
        pos[name] = pos[bone.parent] + bone.length * np.einsum("ijn,j->ni", r, bone.direction)
    return order, pos, rot


def amc_joint_positions(skeleton: AsfSkeleton, motion: dict[str, np.ndarray], unit_m: float) -> dict[str, np.ndarray]:
    """Global positions (F, 3) in metres of every bone's end (``root`` = the root position)."""
    _, pos, _ = _forward_kinematics(skeleton, motion)
    return {name: p * unit_m for name, p in pos.items()}


def amc_to_joints(skeleton: AsfSkeleton, motion: dict[str, np.ndarray], fps: float, unit_m: float):
    """The motion as joint trajectories: one "joint" per bone at the bone's end, carrying the
    bone's global rotation (identity at the ASF rest pose, as a BVH joint's is at its rest)."""
    from depthrefine.mocap.kinematics import JointTrajectories

    order, pos, rot = _forward_kinematics(skeleton, motion)
    _, rest, _ = _forward_kinematics(skeleton, {"root": np.zeros((1, 6))})
    index = {name: k for k, name in enumerate(order)}
    parents = np.array([index[skeleton.bones[b].parent] if b != "root" else -1 for b in order])
    return JointTrajectories(
        names=tuple(order),
        parents=parents,
        fps=float(fps),
        positions_m=np.stack([pos[b] for b in order], axis=1) * unit_m,
        rotations=np.stack([np.moveaxis(rot[b], -1, 0) for b in order], axis=1),
        rest_positions_m=np.stack([rest[b][0] for b in order]) * unit_m,
        translating=None,  # positions are resampled linearly, not rebuilt from rest offsets
    )
