"""OpenSim calls: the generic model with the BlazePose markers, scaling by given factors,
inverse kinematics, and reading the .mot it writes. Everything OpenSim prints goes to a log
file (``opensim_output_to``), never the console.
"""

from __future__ import annotations

import ctypes
import os
import sys
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SETUP_DIR = Path(__file__).resolve().parent / "opensim_setup"
# The muscle model is stored gzipped (2.1 MB of XML → 56 KB); generic_model unpacks it.
MODELS = {"simple": "Model_Pose2Sim_simple.osim", "muscles": "Model_Pose2Sim_muscles_flex.osim.gz"}
MARKERS_XML = SETUP_DIR / "Markers_BlazePose.xml"
SCALING_XML = SETUP_DIR / "Scaling_Setup_Pose2Sim_Blazepose.xml"
IK_XML = SETUP_DIR / "IK_Setup_Pose2Sim_Blazepose.xml"


def _opensim():
    import opensim

    opensim.Logger.removeFileSink()  # else every process writes opensim.log in its working directory
    return opensim


@contextmanager
def opensim_output_to(log_path: str | Path | None):
    """Send what OpenSim's C++ code prints (stdout and stderr, file-descriptor level) to the
    end of log_path for the duration; None leaves the console as it is."""
    if log_path is None:
        yield
        return
    libc = ctypes.CDLL(None)
    sys.stdout.flush(), sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log_path, "a") as log:
        try:
            os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
            yield
        finally:
            libc.fflush(None)
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def model_marker_names(markers_xml: Path = MARKERS_XML) -> list[str]:
    return [m.get("name") for m in ET.parse(markers_xml).getroot().iter("Marker")]


def check_model(model: str) -> Path:
    if model not in MODELS:
        raise ValueError(f"joint_angles.model must be one of {sorted(MODELS)}, got {model!r}")
    return SETUP_DIR / MODELS[model]


def generic_model(model: str):
    """(opensim.Model with the BlazePose markers, its default state)."""
    osim = _opensim()
    path = check_model(model)
    if path.suffix == ".gz":  # OpenSim reads plain files only
        import gzip
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / path.stem
            plain.write_bytes(gzip.decompress(path.read_bytes()))
            m = osim.Model(str(plain))
    else:
        m = osim.Model(str(path))
    m.set_MarkerSet(osim.MarkerSet(str(MARKERS_XML)))
    return m, m.initSystem()


def model_bodies(model) -> set[str]:
    bodies = model.getBodySet()
    return {bodies.get(i).getName() for i in range(bodies.getSize())}


def marker_distances(model, state, pairs) -> dict[tuple[str, str], float]:
    """Distance between each pair of model markers in the model's default pose."""
    markers = model.getMarkerSet()
    model.realizePosition(state)
    loc = {n: markers.get(n).getLocationInGround(state).to_numpy() for pair in pairs for n in pair}
    return {(a, b): float(np.linalg.norm(loc[a] - loc[b])) for a, b in pairs}


def write_scaled_model(model, state, factors: dict[str, float], mass_kg: float, out_osim: str | Path) -> None:
    """Scale the bodies (uniform factor each; markers move with them), keeping the mass
    distribution at the total mass_kg, and write the model."""
    osim = _opensim()
    scales = osim.ScaleSet()
    for body, f in sorted(factors.items()):
        s = osim.Scale()
        s.setSegmentName(body)
        s.setScaleFactors(osim.Vec3(f, f, f))
        s.setApply(True)
        scales.cloneAndAppend(s)
    if not model.scale(state, scales, True, float(mass_kg)):
        raise RuntimeError("OpenSim could not scale the model")
    model.setName(Path(out_osim).stem)
    model.printToXML(str(out_osim))
    if not Path(out_osim).is_file():
        raise RuntimeError(f"OpenSim wrote no scaled model {out_osim}")


def _applied(root, tag: str):
    return [t for t in root.iter(tag) if (t.findtext("apply") or "true").strip().lower() == "true"]


def ik_tasks(ik_setup: Path = IK_XML) -> tuple[dict[str, float], dict[str, tuple[float, float | None]], float]:
    """The setup's applied marker weights; its coordinate tasks, coordinate → (weight, target
    in the file's units, None = the model's default value) — Pose2Sim pins lumbar flexion
    to 0 with weight 0.1, since no marker sees it —; and its accuracy."""
    root = ET.parse(ik_setup).getroot()
    markers = {t.get("name"): float(t.findtext("weight")) for t in _applied(root, "IKMarkerTask")}
    coordinates = {}
    for t in _applied(root, "IKCoordinateTask"):
        kind = (t.findtext("value_type") or "default_value").strip()
        if kind not in ("default_value", "manual_value"):
            raise ValueError(f"{ik_setup}: coordinate task {t.get('name')!r}: value_type {kind!r} is not supported")
        target = float(t.findtext("value")) if kind == "manual_value" else None
        coordinates[t.get("name")] = (float(t.findtext("weight")), target)
    return markers, coordinates, float(root.findtext(".//accuracy"))


def inverse_kinematics(scaled_osim: str | Path, trc: str | Path, times: np.ndarray, out_mot: str | Path) -> Path:
    """IK of the TRC's markers on the scaled model → out_mot (angles in degrees), and the
    marker errors <name>_ik_marker_errors.sto beside it (the tool named after out_mot, so
    that runs in one folder do not overwrite each other's errors). Returns the errors file."""
    osim = _opensim()
    out_mot = Path(out_mot)
    markers, coordinates, accuracy = ik_tasks()
    tasks = osim.IKTaskSet()
    for name, w in markers.items():
        t = osim.IKMarkerTask()
        t.setName(name)
        t.setApply(True)
        t.setWeight(w)
        tasks.cloneAndAppend(t)
    for name, (w, target) in coordinates.items():
        t = osim.IKCoordinateTask()
        t.setName(name)
        t.setApply(True)
        t.setWeight(w)
        if target is None:
            t.setValueType(osim.IKCoordinateTask.DefaultValue)
        else:
            t.setValueType(osim.IKCoordinateTask.ManualValue)
            t.setValue(target)
        tasks.cloneAndAppend(t)
    model = osim.Model(str(scaled_osim))  # kept referenced: the tool does not own it (a crash otherwise)
    tool = osim.InverseKinematicsTool()
    tool.setName(out_mot.stem)
    tool.setModel(model)
    tool.set_IKTaskSet(tasks)
    tool.set_accuracy(accuracy)
    tool.setMarkerDataFileName(str(trc))
    tool.setStartTime(float(times[0]))
    tool.setEndTime(float(times[-1]))
    tool.setOutputMotionFileName(str(out_mot))
    tool.set_report_errors(True)
    tool.setResultsDir(str(out_mot.parent))
    if not tool.run() or not out_mot.is_file():
        raise RuntimeError(f"OpenSim inverse kinematics failed for {trc} (see the log)")
    return out_mot.parent / f"{out_mot.stem}_ik_marker_errors.sto"


def read_sto(path: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An OpenSim .mot/.sto table → (times, column → values); values as written (IK angles in degrees)."""
    lines = Path(path).read_text().splitlines()
    try:
        end = next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader")
    except StopIteration:
        raise ValueError(f"{path}: no 'endheader' line; not an OpenSim table") from None
    head = lines[end + 1].split("\t")
    data = np.array([[float(v) for v in line.split()] for line in lines[end + 2 :] if line.strip()]).reshape(
        -1, len(head)
    )
    return data[:, 0], {h.strip(): data[:, i] for i, h in enumerate(head) if i}
