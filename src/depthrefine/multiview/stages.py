"""The multi-camera workflow stages (workflow/rules/multiview.smk): the reference of a
session (people, QC page, camera × person pairs) and each pair's monocular recording."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from depthrefine.io import atomic_path, atomic_write_text
from depthrefine.multiview.session import PAIR_SEPARATOR

log = logging.getLogger(__name__)

REFERENCE_VERSION = 1
SINGLE_CAMERA_MODE = "video"  # the mode the single-camera pipeline runs BlazePose in (capture/pose.py)


def write_reference_parquet(path: str | Path, markers: dict, names: list[str], fps: float, meta: dict) -> None:
    """Long table, one row per frame × marker (docs/multiview.md): world metres, NaN where dropped."""
    xyz, err, views = markers["xyz"], markers["error_px"], markers["views"]
    f, m = err.shape
    table = pa.table(
        {
            "frame": pa.array(np.repeat(np.arange(f, dtype=np.int32), m)),
            "time_s": pa.array(np.repeat(np.arange(f) / fps, m)),
            "marker": pa.array(np.tile(np.array(names, dtype=object), f), pa.string()),
            "x": pa.array(xyz[..., 0].ravel()),
            "y": pa.array(xyz[..., 1].ravel()),
            "z": pa.array(xyz[..., 2].ravel()),
            "error_px": pa.array(err.ravel()),
            "views": pa.array(views.ravel().astype(np.int8)),
        }
    )
    info = {"fps": fps, "markers": names, "version": REFERENCE_VERSION, **meta}
    table = table.replace_schema_metadata({"depthrefine": json.dumps(info)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_reference_parquet(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(xyz (F, M, 3), error_px (F, M), views (F, M), metadata) of a reference file."""
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"depthrefine"])
    m = len(meta["markers"])
    f = table.num_rows // m
    xyz = np.stack([table.column(k).to_numpy() for k in "xyz"], axis=-1).reshape(f, m, 3)
    return xyz, table.column("error_px").to_numpy().reshape(f, m), table.column("views").to_numpy().reshape(f, m), meta


def reference_markers(path: str | Path, names: list[str]) -> np.ndarray:
    """A pair's reference (F, M, 3), checked to have the recording's markers in its order."""
    xyz, _, _, meta = read_reference_parquet(path)
    if meta["markers"] != names:
        raise ValueError(f"{path}: reference markers {meta['markers']} are not the recording's {names}")
    return xyz


def person_qc(person, ms, cameras) -> dict:
    """Coverage and quality of one person's reference markers (docs/multiview.md, QC)."""
    from depthrefine.evaluation.realval import bone_cv_pct

    m = person.markers
    assoc = person.frames
    kept = np.isfinite(m["xyz"][..., 0])
    err = m["error_px"][assoc][kept[assoc]]
    per_view = person.landmarks.per_view_px.reshape(len(assoc), 33, -1)
    used = person.landmarks.views.reshape(len(assoc), 33, -1)
    marker_landmarks = sorted({i for n in ms.names for i in ms.landmarks[n]})
    per_camera = {}
    for v, cam in enumerate(cameras):
        e = per_view[:, marker_landmarks, v][used[:, marker_landmarks, v]]
        per_camera[cam.name] = {
            "observations": int(e.size),
            "median_px": float(np.median(e)) if e.size else None,
            "p90_px": float(np.percentile(e, 90)) if e.size else None,
        }
    # The same error over every view that saw the point, the views left out too (view_error_px).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN landmark-frames
        seen_mean = np.nanmean(per_view, axis=-1)  # (F, 33)
    all_views = np.stack([seen_mean[:, list(ms.landmarks[n])].mean(axis=1) for n in ms.names], axis=1)
    err_all = all_views[assoc][kept[assoc]]
    index = {n: i for i, n in enumerate(ms.names)}
    bones = [(index[a], index[b]) for a, b in ms.bones]
    return {
        "frames_associated": int(assoc.sum()),
        "frame_coverage": float(assoc.mean()),
        "kept_fraction": float(kept[assoc].mean()) if assoc.any() else 0.0,
        "median_reproj_px": float(np.median(err)) if err.size else None,
        "median_reproj_all_views_px": float(np.nanmedian(err_all)) if err_all.size else None,
        "views_left_out_fraction": float(1 - used[assoc].sum() / max(np.isfinite(per_view[assoc]).sum(), 1)),
        "kept_per_marker": {n: float(kept[assoc, i].mean()) if assoc.any() else 0.0 for i, n in enumerate(ms.names)},
        "views_flipped": int(person.flipped.sum()),
        "limbs_swapped": int(person.limbs_swapped.sum()),
        "per_camera": per_camera,
        "bone_cv_pct": bone_cv_pct(m["xyz"], bones),
        "error_px_sample": np.round(err, 2).tolist(),
    }


def session_reference(
    calibration: str,
    videos: list[str],
    poses: list[str],
    markerset_path: str,
    settings: dict,
    out_dir: str,
    *,
    session: str,
) -> dict:
    """One session's reference (reference.py) → ``out_dir``: {person}.parquet, qc.json,
    qc.html, pairs.json and the refined calibration (calibration_refined.toml)."""
    from depthrefine.markers.markersets import load_markerset
    from depthrefine.multiview.calibration import fitted_to_video, read_calibration, write_toml
    from depthrefine.multiview.poses import load_camera_poses
    from depthrefine.multiview.reference import ReferenceConfig, build_reference, match_camera_detections
    from depthrefine.multiview.session import cameras_for_videos

    cfg = ReferenceConfig.from_dict(settings)
    ms = load_markerset(markerset_path)
    if ms.landmarks is None:
        raise ValueError(f"marker set {ms.name!r} ({ms.path}) has no 'landmarks' mapping, so video cannot give it")
    names = [Path(v).stem for v in videos]
    cameras = cameras_for_videos(read_calibration(calibration), names, calibration)
    per_camera = [load_camera_poses(p) for p in poses]
    first = [d[cfg.pose_modes[0]] for d in per_camera]
    cameras = [fitted_to_video(c, (d.width, d.height), calibration) for c, d in zip(cameras, first)]
    fps = {round(d.fps, 3) for d in first}
    if len(fps) != 1:
        raise ValueError(
            f"session {session}: the videos have different frame rates {sorted(fps)}; they must be synchronised"
        )
    fps = fps.pop()
    ref = build_reference(cameras, per_camera, ms, cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    refined = ref["cameras"]
    write_toml(refined, out / "calibration_refined.toml")
    qc = dict(ref["qc"], session=session, fps=fps, markerset=ms.name, people={})
    pairs = []
    mode = SINGLE_CAMERA_MODE if SINGLE_CAMERA_MODE in per_camera[0] else cfg.pose_modes[0]
    for person in ref["people"]:
        referenced = np.isfinite(person.markers["xyz"][..., 0]).any(axis=1)
        write_reference_parquet(
            out / f"{person.name}.parquet", person.markers, ms.names, fps, {"session": session, "person": person.name}
        )
        qc["people"][person.name] = person_qc(person, ms, refined)
        for v, cam in enumerate(refined):
            own = per_camera[v][mode]
            matched = match_camera_detections(person, cam, own, cam.size, cfg.match_torso_fraction)
            # Share of the frames with a reference in which this camera's own pipeline sees the person.
            coverage = float(((matched >= 0) & referenced).sum() / max(referenced.sum(), 1))
            pairs.append(
                {
                    "session": session,
                    "camera": cam.name,
                    "person": person.name,
                    "recording": PAIR_SEPARATOR.join((session, cam.name, person.name)),
                    "mode": mode,
                    "coverage": coverage,
                    "evaluated": coverage >= cfg.min_pair_coverage,
                    "detection": matched.tolist(),
                }
            )
        log.info(
            "%s %s: %d frames, %.1f %% of marker-frames kept, median reprojection %.1f px",
            session,
            person.name,
            person.frames.sum(),
            100 * qc["people"][person.name]["kept_fraction"],
            qc["people"][person.name]["median_reproj_px"] or float("nan"),
        )
    qc["people_floor_m"] = people_floor(ref["people"], ms, cfg.world_up)
    qc["pairs"] = [{k: p[k] for k in ("camera", "person", "coverage", "evaluated")} for p in pairs]
    atomic_write_text(out / "pairs.json", json.dumps(pairs, indent=1) + "\n")
    atomic_write_text(out / "qc.json", json.dumps(qc, indent=2, default=float) + "\n")
    from depthrefine.multiview.qc_page import render_qc

    atomic_write_text(out / "qc.html", render_qc(qc))
    return qc


def reference_at_rate(xyz: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """A reference (F, M, 3) at ``fps_out`` over the same time span, as the pair's markers are
    resampled: linear between the two input frames around each output time, NaN where either
    is (a dropped point is never interpolated across); the same array at the same rate."""
    from depthrefine.capture.sequence import resample_mask

    if abs(fps_in - fps_out) < 1e-9:
        return xyz
    n_out = len(resample_mask(np.zeros(len(xyz), dtype=bool), fps_in, fps_out))  # resample's frame count
    pos = np.arange(n_out) * fps_in / fps_out
    lo = np.minimum(np.floor(pos + 1e-9).astype(int), len(xyz) - 1)
    hi = np.minimum(lo + 1, len(xyz) - 1)
    w = (pos - lo)[:, None, None]
    return np.where(w < 1e-9, xyz[lo], xyz[lo] * (1 - w) + xyz[hi] * w)


def longest_run(mask: np.ndarray, max_gap: int) -> tuple[int, int]:
    """[start, end) of the longest stretch of True allowing interior gaps of ≤ max_gap frames."""
    best, start, last = (0, 0), None, None
    for f in np.flatnonzero(mask):
        if start is None or f - last - 1 > max_gap:
            start = f
        last = f
        if last + 1 - start > best[1] - best[0]:
            best = (int(start), int(last + 1))
    return best


MAX_UP_DISAGREEMENT_DEG = 30.0  # people lean (the lab's man: his trunk 19–33°), the mean of everyone less (8°)
# The lab's two people stand 14 cm apart in height on their triangulated feet (BlazePose's foot
# landmarks); a world origin off the floor (a board on a table, a camera's centre) is ≥ 0.5 m off.
FLOOR_AGREEMENT_M = 0.15


def session_up(world_up: list[float] | None, people_up: list[float] | None) -> tuple[np.ndarray | None, str]:
    """The session's up direction (world coordinates, unit) and where it came from: the
    calibration's ``world_up`` (config multiview.world_up), unless the people's mean ankle →
    shoulder direction (qc.json ``up``) is more than MAX_UP_DISAGREEMENT_DEG from it — a
    calibration whose world frame is not z-up (Anipose's is its first camera's) — then the
    people's; None where neither is known."""
    people = None if people_up is None else np.asarray(people_up, dtype=np.float64) / np.linalg.norm(people_up)
    if world_up is None:
        return (people, "the people's mean ankle → shoulder direction") if people is not None else (None, "unknown")
    up = np.asarray(world_up, dtype=np.float64) / np.linalg.norm(world_up)
    if people is None:
        return up, "the calibration (multiview.world_up)"
    apart = float(np.degrees(np.arccos(np.clip(up @ people, -1.0, 1.0))))
    if apart > MAX_UP_DISAGREEMENT_DEG:
        log.warning(
            "multiview.world_up %s is %.0f° from the people's mean ankle → shoulder direction; "
            "the calibration's world frame is not up that way: the people's direction is used",
            list(world_up),
            apart,
        )
        return people, f"the people's mean ankle → shoulder direction (world_up is {apart:.0f}° from it)"
    return up, "the calibration (multiview.world_up)"


def people_floor(people, ms, world_up: list[float] | None) -> float | None:
    """Where the people's feet say the floor is, along the calibration's ``world_up`` (metres):
    each person's stance level (capture.floor.stance_level on their reference) less the
    stance marker's height, the median over the people; None without an up or feet."""
    from depthrefine.capture.floor import STANCE_MARKER_HEIGHT_M, stance_level

    if world_up is None or not ms.foot_markers:
        return None
    up = np.asarray(world_up, dtype=np.float64) / np.linalg.norm(world_up)
    feet = np.array([ms.names.index(n) for n in ms.foot_markers])
    levels = []
    for person in people:
        xyz = person.markers["xyz"]
        if np.isfinite(xyz[:, feet]).any():
            levels.append(stance_level(xyz, feet, up)[0] - STANCE_MARKER_HEIGHT_M)
    return round(float(np.median(levels)), 4) if levels else None


def camera_height(
    centre: np.ndarray,
    up: np.ndarray | None,
    up_from: str,
    floor_height_m: float | None,
    people_floor_m: float | None = None,
) -> float | None:
    """The camera centre's height above the floor (metres), when the calibration's own up and
    floor are known: the people's up direction (``session_up``) says nothing of where the
    calibration's floor is. ``people_floor_m``: where the reference's feet put the floor
    (``people_floor``); more than FLOOR_AGREEMENT_M from ``floor_height_m`` and the
    calibration's floor is elsewhere (a world origin off the floor): none, with a warning.
    The people only veto; they never move the floor a pair is scaled to."""
    if up is None or floor_height_m is None or "calibration" not in up_from:
        return None
    if people_floor_m is not None and abs(people_floor_m - floor_height_m) > FLOOR_AGREEMENT_M:
        log.warning(
            "the people's feet stand on a floor at %.2f m along world_up, multiview.floor_height_m is %.2f m: "
            "the calibration's floor is elsewhere; the pairs keep the body's own size (set floor_height_m)",
            people_floor_m,
            floor_height_m,
        )
        return None
    return float(np.asarray(centre) @ up - floor_height_m)


def pair_recording(
    reference_dir: str,
    poses: str,
    markerset_path: str,
    out_parquet: str,
    out_trc: str,
    out_png: str,
    out_reference: str,
    *,
    recording: str,
    fps: float,
    gap_fill_s: float,
    world_up: list[float] | None = None,
    floor_height_m: float | None = None,
) -> dict:
    """One camera × person pair → that camera's own monocular markers (its BlazePose world
    landmarks, what a single-camera user gets) as a recording, and the reference in that
    camera's frame over the same frames (docs/multiview.md). ``world_up``: the calibration's
    up direction; the capture info then holds the camera's (``camera_up``, camera frame; see
    ``session_up`` for when the people's direction is taken instead). ``floor_height_m``: the
    floor's height along ``world_up`` in the calibration's world (config multiview.floor_height_m);
    with the calibration's up, the capture info then holds the camera centre's height above it
    (``camera_height_m``), from which the refinement takes the body's scale."""
    from depthrefine.capture.pose import landmarks_to_markers
    from depthrefine.capture.recording import _finish, draw_skeleton, marker_rays
    from depthrefine.capture.sequence import resample_mask
    from depthrefine.markers.markersets import load_markerset
    from depthrefine.multiview.calibration import read_toml
    from depthrefine.multiview.poses import load_camera_poses

    session, camera, person = recording.split(PAIR_SEPARATOR)
    ref_dir = Path(reference_dir)
    pair = next(
        (
            p
            for p in json.loads((ref_dir / "pairs.json").read_text())
            if p["camera"] == camera and p["person"] == person
        ),
        None,
    )
    if pair is None:
        raise ValueError(f"{recording}: no such camera × person pair in {ref_dir / 'pairs.json'}")
    ms = load_markerset(markerset_path)
    own = load_camera_poses(poses)[pair["mode"]]
    if abs(own.fps - fps) > 1e-6:
        log.warning(
            "%s: the session is at %g fps, the config's fps is %g: its markers are resampled as a "
            "video's are, the reference linearly (docs/multiview.md)",
            recording,
            own.fps,
            fps,
        )
    xyz_ref, err, views, meta = read_reference_parquet(ref_dir / f"{person}.parquet")
    if meta["markers"] != ms.names:
        raise ValueError(f"{recording}: the reference has markers {meta['markers']}, the marker set {ms.name!r} others")
    cam = {c.name: c for c in read_toml(ref_dir / "calibration_refined.toml")}[camera]
    det = np.asarray(pair["detection"])
    n = len(det)
    world, image = np.full((n, 33, 3), np.nan), np.full((n, 33, 3), np.nan)
    for f, k in enumerate(det):
        if k >= 0:
            world[f], image[f] = own.world[f][k][:, :3], own.image[f][k][:, :3]
    raw = landmarks_to_markers(world, ms.landmarks, ms.names)
    rays = marker_rays(image, own.width, own.height, ms, cam.K, cam.dist)
    both = (det >= 0) & np.isfinite(xyz_ref[..., 0]).any(axis=1)
    start, end = longest_run(both, int(round(gap_fill_s * own.fps)))
    if end - start < 2:
        raise ValueError(f"{recording}: the camera's own detections never meet the reference")
    extra = {
        "pair": {
            "session": session,
            "camera": camera,
            "person": person,
            "frames": [start, end],
            "coverage": pair["coverage"],
        },
        "intrinsics": {"K": cam.K.tolist(), "dist": cam.dist.tolist(), "from": "the session's refined calibration"},
    }
    qc = json.loads((ref_dir / "qc.json").read_text())
    up, extra["camera_up_from"] = session_up(world_up, qc.get("up"))
    if up is not None:
        extra["camera_up"] = (cam.R @ up).round(6).tolist()
    height = camera_height(cam.centre, up, extra["camera_up_from"], floor_height_m, qc.get("people_floor_m"))
    if height is not None:
        extra["camera_height_m"] = round(height, 4)
    raw_seg, rays_seg = raw[start:end].copy(), rays[start:end].copy()
    raw_seg[det[start:end] < 0] = rays_seg[det[start:end] < 0] = np.nan
    info, observed = _finish(
        raw_seg,
        own.fps,
        ms,
        recording,
        fps=fps,
        gap_fill_s=gap_fill_s,
        out_parquet=out_parquet,
        out_trc=out_trc,
        extra=extra,
        image=rays_seg,
    )
    # The reference over the same frames (after the same trimming), in this camera's frame.
    first = start + info["first_input_frame"]
    kept = info["frames_in"] - info["trimmed_frames"]["start"] - info["trimmed_frames"]["end"]
    in_camera = reference_at_rate(cam.to_camera(xyz_ref[first : first + kept]), own.fps, fps)
    nearest = resample_mask(np.arange(kept), own.fps, fps)  # the session frame nearest each output frame
    seg_err, seg_views = err[first : first + kept][nearest], views[first : first + kept][nearest]
    ref_meta = {
        "session": session,
        "camera": camera,
        "person": person,
        "frame": "camera",
        "first_session_frame": int(first),
    }
    write_reference_parquet(
        out_reference, {"xyz": in_camera, "error_px": seg_err, "views": seg_views}, ms.names, fps, ref_meta
    )
    middle = observed.shape[0] // 2
    draw_skeleton(observed[middle], ms, out_png, f"{recording}, frame {middle} (camera {camera}'s own BlazePose)")
    return info
