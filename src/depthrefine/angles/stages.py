"""Joint angles of one recording (the `joint_angles` rule) and of one marker array (the CLI):
camera-frame markers → levelled OpenSim frame → TRC → scaled model → IK → .mot, with a JSON
summary (frame, scale factors, height and mass used, IK marker errors, RMSE against the
reference when there is one)."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import numpy as np

from depthrefine.angles import catalogue
from depthrefine.angles.frame import OpenSimFrame, fit_frame
from depthrefine.angles.opensim_run import (
    SCALING_XML,
    generic_model,
    inverse_kinematics,
    marker_distances,
    model_bodies,
    model_marker_names,
    opensim_output_to,
    read_sto,
    write_scaled_model,
)
from depthrefine.angles.scaling import DEFAULT_BMI, body_scales, default_mass, estimate_height, read_measurements
from depthrefine.capture.trc import Trc, write_trc
from depthrefine.io import atomic_write_text
from depthrefine.markers.markersets import MarkerSet
from depthrefine.settings import subject_for

log = logging.getLogger(__name__)

# Recording estimate (evaluation/realval.py's names) → the report's method; rays and
# Savitzky–Golay are left out (rays moves x, y only; Savitzky–Golay tracks Butterworth).
CAPTURES = {"raw": "raw", "butterworth": "butterworth_6hz", "refined": "learned", "bone_fit": "bone_fit"}
# A frame is scored against the reference where both captures have these markers (the ones
# that carry the headline angles); OpenSim's IK itself skips a missing marker frame by frame.
MIN_IK_MARKERS = 6
SCORED_MARKERS = ("RHip", "LHip", "RKnee", "LKnee", "RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe")


def opensim_columns(ms: MarkerSet, names: list[str]) -> tuple[list[int], list[str]]:
    """Column indices into names and the OpenSim marker names they become. A mapped name the
    OpenSim marker file lacks is an error (OpenSim would ignore it without a word)."""
    if not ms.opensim_markers:
        raise ValueError(f"{ms.path}: the marker set has no opensim_markers mapping; joint angles need one")
    known = model_marker_names()
    unknown = sorted(v for v in ms.opensim_markers.values() if v not in known)
    if unknown:
        raise ValueError(f"{ms.path}: opensim_markers names {unknown}, not markers of the OpenSim marker file {known}")
    cols = [i for i, n in enumerate(names) if n in ms.opensim_markers]
    if len(cols) < 6:
        raise ValueError(f"only {len(cols)} of the recording's markers have OpenSim names; IK needs at least 6")
    return cols, [ms.opensim_markers[names[i]] for i in cols]


def capture_angles(
    xyz_os: np.ndarray,
    names: list[str],
    fps: float,
    stem: Path,
    *,
    model: str = "simple",
    height_m: float | None = None,
    mass_kg: float | None = None,
    log_path: str | Path | None = None,
    trc: Path | None = None,
) -> dict:
    """One capture, already in the OpenSim frame with OpenSim marker names: writes the TRC
    (default stem.trc), stem.osim (scaled), stem.mot and stem_ik_marker_errors.sto; returns
    its summary."""
    start = time.perf_counter()
    # OpenSim's IK fails on a frame without markers; such frames (a reference's gaps) are left
    # out of the TRC, and so of the .mot (read_angles puts them back as NaN).
    kept = np.flatnonzero(np.isfinite(xyz_os).all(axis=-1).sum(axis=1) >= MIN_IK_MARKERS)
    if len(kept) < 2:
        raise ValueError(f"{stem.name}: fewer than 2 frames have {MIN_IK_MARKERS} markers for inverse kinematics")
    times = kept / fps
    trc = trc or stem.with_suffix(".trc")
    rate = f"{fps:g}"
    header = {"DataRate": rate, "CameraRate": rate, "Units": "m", "OrigDataRate": rate}
    header.update({"OrigDataStartFrame": "1", "OrigNumFrames": str(len(xyz_os))})
    write_trc(Trc(names, kept + 1, times, xyz_os[kept], "m", fps, header), trc, missing="NaN")
    measurements = read_measurements(SCALING_XML)
    with opensim_output_to(log_path):
        osim_model, state = generic_model(model)
        lengths = marker_distances(osim_model, state, {p for m in measurements for p in m.pairs})
        factors, per_measurement = body_scales(xyz_os, names, measurements, lengths, model_bodies(osim_model))
        estimated = estimate_height(xyz_os, names)
        height = float(height_m) if height_m else estimated
        if height_m and np.isfinite(estimated):
            factors = {b: f * height / estimated for b, f in factors.items()}
        mass = float(mass_kg) if mass_kg else default_mass(height)
        write_scaled_model(osim_model, state, factors, mass, stem.with_suffix(".osim"))
        errors = inverse_kinematics(stem.with_suffix(".osim"), trc, times, stem.with_suffix(".mot"))
    _, err = read_sto(errors)
    rms = err.get("marker_error_RMS", np.full(1, np.nan))
    return {
        "mot": stem.with_suffix(".mot").name,
        "frames_solved": int(len(kept)),
        "height_m": height,
        "height_estimated_m": estimated,
        "height_source": "config" if height_m else "estimated from the clip",
        "mass_kg": mass,
        "mass_source": "config" if mass_kg else f"height at BMI {DEFAULT_BMI}",
        "scale_factors": per_measurement,
        "ik_marker_error_rms_mm": {"mean": float(np.nanmean(rms) * 1000), "max": float(np.nanmax(rms) * 1000)},
        "seconds": time.perf_counter() - start,
    }


def recording_joint_angles(
    refined_parquet: str,
    markerset_path: str,
    out_dir: str,
    *,
    name: str,
    model: str = "simple",
    subjects: dict | None = None,
    reference_parquet: str | None = None,
    log_path: str | None = None,
) -> dict:
    """results/kinematics/{recording}/: {raw,butterworth,refined[,bone_fit][,reference]}.{trc,osim,mot},
    their IK marker errors and angles.json. One OpenSim frame for all, fitted on the reference
    when there is one, else on the chain's final output (bone_fit for video, else refined)."""
    from depthrefine.evaluation.estimates import estimates, load_recording

    rec = load_recording(refined_parquet, markerset_path)
    subject = subject_for(name, subjects)
    outputs = estimates(rec, savgol_window_s=None)
    captures = {key: outputs[method] for key, method in CAPTURES.items() if method in outputs}
    names = rec.index.names
    if reference_parquet:
        from depthrefine.multiview.stages import reference_markers

        captures["reference"] = reference_markers(reference_parquet, names)
        n = min(len(v) for v in captures.values())
        captures = {k: v[:n] for k, v in captures.items()}
    frame_on = "reference" if reference_parquet else ("bone_fit" if "bone_fit" in captures else "refined")
    ms = rec.markerset
    frame = frame_for_markers(captures[frame_on], ms, names)
    cols, os_names = opensim_columns(ms, names)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "recording": name,
        "model": model,
        "fps": rec.fps,
        "frames": int(len(captures[frame_on])),
        "frame": dict(frame.to_dict(), fitted_on=frame_on),
        "subject": subject,
        "captures": {},
    }
    for key, xyz in captures.items():
        log.info("%s: %s — scaling and inverse kinematics (%d frames)", name, key, len(xyz))
        summary["captures"][key] = capture_angles(
            frame.apply(xyz[:, cols]), os_names, rec.fps, out / key, model=model, log_path=log_path, **subject
        )
        log.info("  IK marker error %.1f mm RMS", summary["captures"][key]["ik_marker_error_rms_mm"]["mean"])
    if reference_parquet:
        summary["against_reference"] = score_angles(out, captures, names, rec.fps)
    atomic_write_text(out / "angles.json", json.dumps(summary, indent=2, default=float) + "\n")
    return summary


def read_angles(mot: str | Path, fps: float, frames: int) -> dict[str, np.ndarray]:
    """A .mot's coordinates → (frames,) per coordinate, NaN at the frames it does not have."""
    times, columns = read_sto(mot)
    index = np.rint(times * fps).astype(int)
    out = {}
    for name, values in columns.items():
        full = np.full(frames, np.nan)
        ok = (index >= 0) & (index < frames)
        full[index[ok]] = values[ok]
        out[name] = full
    return out


def score_angles(out: Path, captures: dict[str, np.ndarray], names: list[str], fps: float) -> dict:
    """Per capture: RMSE (°) of each reported angle against the reference's, and the headline mean."""
    scored = [names.index(n) for n in SCORED_MARKERS if n in names]
    present = {k: np.isfinite(v[:, scored]).all(axis=(1, 2)) for k, v in captures.items()}
    n = len(captures["reference"])
    ref = read_angles(out / "reference.mot", fps, n)
    result = {}
    for key in captures:
        if key == "reference":
            continue
        frames = present[key] & present["reference"]
        rmse = catalogue.angle_rmse(read_angles(out / f"{key}.mot", fps, n), ref, frames)
        result[key] = {"rmse_deg": rmse, "headline_deg": catalogue.headline_mean(rmse), "frames": int(frames.sum())}
    return result


def frame_for_markers(xyz: np.ndarray, ms: MarkerSet, names: list[str]) -> OpenSimFrame:
    """The OpenSim frame of markers xyz (F, M, 3, camera frame) named names, of marker set ms."""
    from depthrefine.markers.index import MarkerIndex

    index = MarkerIndex.from_markerset(ms, names)
    return fit_frame(
        xyz,
        index.feet,
        foot_groups([names[i] for i in index.feet]),
        names.index(ms.pelvis_markers["left"]),
        names.index(ms.pelvis_markers["right"]),
    )


def foot_groups(feet: list[str]) -> np.ndarray:
    """One group per kind of foot marker, its left and right together: the name without its
    side (RHeel, LHeel → Heel; r_toe, l_toe → toe)."""
    kinds = [re.sub(r"^(?:[RL]_?|[rl]_|right_|left_)", "", n) for n in feet]
    order = list(dict.fromkeys(kinds))
    return np.array([order.index(k) for k in kinds])
