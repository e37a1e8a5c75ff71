"""Real recordings → raw markers → refined markers (the per-video workflow's stages).

Inputs are a video (pose estimation, ``video.py``) or a marker file (TRC, or Parquet in the
shard schema). Every output is camera frame (x right, y down, z depth), metres, at the
model's frame rate; TRC outputs carry the same axes and units (docs/data.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from depthrefine.capture.rays import at_depth_on_rays, on_rays
from depthrefine.capture.sequence import Cleaned, fill_gaps, resample, resample_mask
from depthrefine.capture.trc import Trc, read_trc, write_trc
from depthrefine.errors import DataError
from depthrefine.markers.markersets import MarkerSet, load_markerset
from depthrefine.tables import read_observations, read_rays, write_observations

log = logging.getLogger(__name__)

# BlazePose's skeleton, for drawing the 2D landmarks on the report's video frame.
POSE_EDGES = [
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (25, 27),
    (27, 29),
    (29, 31),
    (27, 31),
    (24, 26),
    (26, 28),
    (28, 30),
    (30, 32),
    (28, 32),
    (0, 11),
    (0, 12),
]
MARKER_FILE_SUFFIXES = (".trc", ".parquet")


def write_trc_camera(path: str | Path, xyz: np.ndarray, markers: list[str], fps: float) -> None:
    n = xyz.shape[0]
    header = {
        "DataRate": f"{fps:g}",
        "CameraRate": f"{fps:g}",
        "NumFrames": str(n),
        "NumMarkers": str(len(markers)),
        "Units": "m",
        "OrigDataRate": f"{fps:g}",
        "OrigDataStartFrame": "1",
        "OrigNumFrames": str(n),
    }
    write_trc(Trc(list(markers), np.arange(1, n + 1), np.arange(n) / fps, xyz, "m", fps, header), path)


def _finish(
    xyz: np.ndarray,
    fps_in: float,
    ms: MarkerSet,
    source: str,
    *,
    fps: float,
    gap_fill_s: float,
    out_parquet: str,
    out_trc: str,
    extra: dict,
    image: np.ndarray | None = None,
) -> tuple[dict, np.ndarray]:
    """Fill gaps, resample to ``fps``, write Parquet and TRC; returns (capture info, markers).
    ``image``: (F, M, 3) rays and visibility of the same frames, filled and resampled alike."""
    stacked = xyz if image is None else np.concatenate([xyz, image], axis=-1)
    cleaned = fill_gaps(stacked, fps_in, gap_fill_s, ms.names, source)
    both = resample(cleaned.xyz, fps_in, fps)
    out, image_out = (both, None) if image is None else (both[..., :3], both[..., 3:])
    filled = resample_mask(cleaned.filled, fps_in, fps)
    info = {
        "fps_in": fps_in,
        "frames_in": int(xyz.shape[0]),
        "trimmed_frames": cleaned.trimmed,
        "filled_gaps": cleaned.gaps,
        "first_input_frame": cleaned.first_frame,
        **extra,
    }
    if cleaned.trimmed["start"] or cleaned.trimmed["end"]:
        log.warning(
            "%s: trimmed %d leading and %d trailing frames with missing markers",
            source,
            cleaned.trimmed["start"],
            cleaned.trimmed["end"],
        )
    if cleaned.gaps:
        log.info("%s: filled %d gaps of ≤ %.2f s", source, len(cleaned.gaps), gap_fill_s)
    write_observations(
        out_parquet,
        out,
        clip_id=Path(source).stem,
        source=source,
        fps=fps,
        markers=ms.names,
        segments=ms.segments,
        markerset_name=ms.name,
        filled=filled,
        extra={"capture": info},
        image=image_out,
    )
    write_trc_camera(out_trc, out, ms.names, fps)
    log.info(
        "%s: %d frames at %g fps → %d frames at %g fps (%s)", source, xyz.shape[0], fps_in, out.shape[0], fps, ms.name
    )
    return info, out


def markers_from_video(
    video: str,
    pose_model: str,
    markerset_path: str,
    out_parquet: str,
    out_trc: str,
    out_png: str,
    *,
    fps: float,
    gap_fill_s: float,
    max_people: int = 2,
    video_focal: float = 0.72,
) -> dict:
    """``video_focal``: the camera's focal length in units of the image's long side (no
    calibration for a single video; ``depthrefine.capture.rays``)."""
    from depthrefine.capture.pose import (
        draw_landmarks,
        estimate_poses,
        landmarks_to_markers,
    )

    ms = load_markerset(markerset_path)
    if ms.landmarks is None:
        raise ValueError(
            f"marker set {ms.name!r} ({ms.path}) has no 'landmarks' mapping, so a video cannot give it "
            "(config video_markerset; see config/markersets/blazepose.yaml)"
        )
    from depthrefine.capture.rays import phone_intrinsics

    poses = estimate_poses(video, pose_model, max_people=max_people)
    xyz = landmarks_to_markers(poses.world, ms.landmarks, ms.names)
    K = phone_intrinsics(poses.width, poses.height, video_focal)
    image = marker_rays(poses.image, poses.width, poses.height, ms, K)
    seen = np.flatnonzero(np.isfinite(poses.image[:, 0, 0]))
    extra = {
        "video": {
            "width": poses.width,
            "height": poses.height,
            "frames": int(len(poses.people)),
            "frames_with_person": int(len(seen)),
            "max_people": int(poses.people.max()),
            "preview_frame": int(seen[len(seen) // 2]),
        },
        "intrinsics": {"K": K.tolist(), "dist": None, "from": f"config video_focal = {video_focal:g} × long side"},
    }
    info, _ = _finish(
        xyz,
        poses.fps,
        ms,
        video,
        fps=fps,
        gap_fill_s=gap_fill_s,
        out_parquet=out_parquet,
        out_trc=out_trc,
        extra=extra,
        image=image,
    )
    frame = extra["video"]["preview_frame"]
    draw_landmarks(video, frame, poses.image[frame], out_png, POSE_EDGES)
    return info


def marker_rays(image: np.ndarray, width: int, height: int, ms: MarkerSet, K, dist=None) -> np.ndarray:
    """(F, 33, 3) landmarks (normalised x, y and visibility) → (F, M, 3) each marker's ray (its
    landmarks' mean pixel, undistorted) and visibility (its landmarks' least)."""
    from depthrefine.capture.rays import pixels_to_rays

    px = image[..., :2] * np.array([width, height], dtype=np.float64)
    cols = [list(ms.landmarks[n]) for n in ms.names]
    rays = pixels_to_rays(np.stack([px[:, c].mean(axis=1) for c in cols], axis=1), K, dist)
    vis = np.stack([image[:, c, 2].min(axis=1) for c in cols], axis=1)
    return np.concatenate([rays, vis[..., None]], axis=-1)


def marker_columns(names: list[str], ms: MarkerSet, source: str) -> list[int]:
    """Column of each marker of the set in a file's marker list (names or aliases)."""
    return columns_of(names, ms.names, ms.aliases or {}, source, f"set {ms.name!r} ({ms.path})")


def columns_of(names: list[str], wanted: list[str], aliases: dict[str, str], source: str, label: str) -> list[int]:
    """Column of each of ``wanted`` in a file's marker list, where a file may use an alias
    (``aliases``: other name → marker); ``label`` says whose markers these are in errors."""
    canonical = {n: n for n in wanted} | aliases
    where: dict[str, int] = {}
    for col, name in enumerate(names):
        marker = canonical.get(name.strip())
        if marker is not None:
            if marker in where:
                raise DataError(source, f"marker {marker!r} appears twice (as {names[where[marker]]!r} and {name!r})")
            where[marker] = col
    missing = [n for n in wanted if n not in where]
    if missing:
        raise DataError(
            source,
            f"marker set mismatch: markers {missing} of {label} are missing (the file has {', '.join(names)})",
        )
    return [where[n] for n in wanted]


def parse_axes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """ "x,y,z" / "x,-y,-z" …: which file axis (and sign) is camera x (right), y (down), z (depth)."""
    parts = [p.strip().lower() for p in text.split(",")]
    if len(parts) != 3 or sorted(p.lstrip("-") for p in parts) != ["x", "y", "z"]:
        raise ValueError(f"axes {text!r}: give three signed axes, e.g. 'x,y,z' or 'x,-y,-z'")
    order = np.array(["xyz".index(p.lstrip("-")) for p in parts])
    signs = np.array([-1.0 if p.startswith("-") else 1.0 for p in parts])
    return order, signs


def to_camera(xyz: np.ndarray, order: np.ndarray, signs: np.ndarray) -> np.ndarray:
    return xyz[..., order] * signs


def from_camera(xyz: np.ndarray, order: np.ndarray, signs: np.ndarray) -> np.ndarray:
    out = np.empty_like(xyz)
    out[..., order] = xyz * signs
    return out


def read_marker_file(path: str, ms: MarkerSet, axes: str) -> tuple[np.ndarray, float]:
    """(F, M, 3) camera-frame metres in the set's marker order, and the file's frame rate."""
    suffix = Path(path).suffix.lower()
    if suffix == ".trc":
        trc = read_trc(path)
        cols = marker_columns(trc.markers, ms, path)
        order, signs = parse_axes(axes)
        return to_camera(trc.xyz_m[:, cols], order, signs), trc.data_rate
    if suffix == ".parquet":
        observed, _, table, meta = read_observations(path)
        markers = json.loads(meta.get("markers", "[]"))
        clips = set(table.column("clip_id").to_pylist())
        if len(clips) != 1:
            raise DataError(path, f"holds {len(clips)} clips; a marker file must hold one recording")
        fps = {float(v) for v in table.column("fps").to_pylist()}
        if len(fps) != 1:
            raise DataError(path, "the fps column is not constant")
        return observed[:, marker_columns(markers, ms, path)], fps.pop()
    raise DataError(path, f"expected a marker file ending in {' or '.join(MARKER_FILE_SUFFIXES)}")


def draw_skeleton(xyz: np.ndarray, ms: MarkerSet, out_png: str, title: str) -> None:
    """Front (x–y) and side (z–y) views of one frame's markers and segments, camera axes."""
    from depthrefine.evaluation.report import pyplot
    from depthrefine.io import atomic_path

    plt = pyplot()

    ix = {n: i for i, n in enumerate(ms.names)}
    pairs = list(dict.fromkeys(list(ms.bones) + list(ms.segments)))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.5))
    for ax, (h, label) in zip(axes, ((0, "x right (m)"), (2, "z depth (m)"))):
        for a, b in pairs:
            ax.plot(xyz[[ix[a], ix[b]], h], xyz[[ix[a], ix[b]], 1], color="#4c72b0")
        ax.scatter(xyz[:, h], xyz[:, 1], s=10, color="#c44e52", zorder=3)
        ax.set_xlabel(label)
        ax.set_ylabel("y down (m)")
        ax.invert_yaxis()
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(title, fontsize=9)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def markers_from_file(
    path: str,
    markerset_path: str,
    out_parquet: str,
    out_trc: str,
    out_png: str,
    *,
    fps: float,
    gap_fill_s: float,
    axes: str = "x,y,z",
) -> dict:
    ms = load_markerset(markerset_path)
    xyz, fps_in = read_marker_file(path, ms, axes)
    info, observed = _finish(
        xyz,
        fps_in,
        ms,
        path,
        fps=fps,
        gap_fill_s=gap_fill_s,
        out_parquet=out_parquet,
        out_trc=out_trc,
        extra={"axes": axes},
    )
    middle = observed.shape[0] // 2
    draw_skeleton(observed[middle], ms, out_png, f"{Path(path).name}, frame {middle} at {fps:g} fps (camera frame)")
    return info


def refine_with_gaps(
    loaded, xyz: np.ndarray, fps: float, *, gap_fill_s: float, source: str, stride: int | None = None
) -> tuple[np.ndarray, Cleaned]:
    """The one refinement path of the workflow and the CLI: ``xyz`` (F, M, 3) camera frame,
    metres, in the model's marker order, NaN where a marker is missing, at any frame rate.
    Interior gaps up to ``gap_fill_s`` are filled (a longer one is refused, naming the marker
    and the time), the model refines at its own rate and the result comes back on the input's
    frames; leading and trailing frames with missing markers are returned as they came."""
    from depthrefine.model.refine import refine_sequence

    cleaned = fill_gaps(xyz, fps, gap_fill_s, loaded.markers, source)
    for gap in cleaned.gaps:
        log.info(
            "%s: filled %d frame(s) of %d marker(s) from t = %.2f s",
            source,
            gap["frames"],
            gap["markers"],
            gap["start_s"],
        )
    refined = refine_sequence(loaded, cleaned.xyz.astype(np.float32), fps=fps, source=source, stride=stride)
    out = np.array(xyz, dtype=np.float32, copy=True)
    out[cleaned.first_frame : cleaned.first_frame + len(refined)] = refined
    return out, cleaned


def refine_markers(
    markers_parquet: str,
    model_path: str,
    out_parquet: str,
    out_trc: str,
    *,
    device: str = "cpu",
    height_m: float | None = None,
    camera_up: list[float] | None = None,
    camera_height_m: float | None = None,
) -> None:
    """The recording refined by the model; for a video (markers with camera rays) then fitted
    to the clip's constant bone lengths near its rays (``height_m``: the subject's stated
    height, config subjects): ``refined_xyz`` holds the chain's final output, ``learned_xyz``
    the refiner's own (docs/data.md, "Observations"). ``camera_up``: the world's up in the
    camera frame (config cameras; else the capture's own, from a calibration): the body's lean
    in depth is taken nearer upright before the bone fit (capture/upright.py).
    ``camera_height_m``: the camera centre's height above the floor (with ``camera_up``; else
    the capture's own): without a stated ``height_m`` the body is scaled along its rays so that
    its feet stand on that floor (capture/floor.py, ``scale_to_floor``)."""
    from depthrefine.capture.bonefit import bone_fit
    from depthrefine.capture.upright import nearer_upright
    from depthrefine.model.refine import load_model

    observed, _, table, meta = read_observations(markers_parquet)
    loaded = load_model(model_path, device)
    markers = json.loads(meta["markers"])
    if markers != loaded.markers:
        raise ValueError(
            f"marker set mismatch: {markers_parquet} has {len(markers)} markers of set "
            f"{meta.get('markerset')!r}, the model {model_path} was trained on {len(loaded.markers)} others"
        )
    source = meta.get("source", markers_parquet)
    fps = float(meta["fps"])
    rays = read_rays(table)
    model_input = observed
    if loaded.on_rays and rays is not None:
        model_input = on_rays(observed, *rays)  # as the model was trained (a virtual camera's capture)
    elif loaded.on_rays:
        log.warning("%s: the model was trained on captures on camera rays; this recording has none", source)
    refined, _ = refine_with_gaps(loaded, model_input, fps, gap_fill_s=0.0, source=source)  # gaps filled upstream
    if loaded.on_rays and rays is not None:
        refined = at_depth_on_rays(refined, rays[0])
    learned = None
    info = json.loads(meta.get("capture", "{}")) | {"model": model_path}
    if camera_up is None:  # the capture's own attitude, a calibration's
        camera_up, camera_height_m = info.get("camera_up"), info.get("camera_height_m")
    if rays is not None:
        learned = refined
        prior = learned
        if camera_up is not None:
            prior, info["upright"] = nearer_upright(learned, rays[0], markers, np.asarray(camera_up), fps)
        placed = on_rays(prior, *rays)  # the refiner's output is hip-centred unless it was trained on rays
        if camera_up is not None and camera_height_m is not None and height_m is None:
            placed, info["floor_scale"] = _on_the_floor(
                placed, loaded.index.feet, camera_up, camera_height_m, rays[1], source
            )
        fitted, lengths = bone_fit(placed, rays[0], json.loads(meta["segments"]), markers, fps, height_m)
        refined = fitted.astype(np.float32)
        info |= {"bone_fit": {"height_m": height_m, "lengths_m": lengths}}
    write_observations(
        out_parquet,
        observed,
        clip_id=table.column("clip_id")[0].as_py(),
        source=source,
        fps=fps,
        markers=markers,
        segments=json.loads(meta["segments"]),
        markerset_name=meta.get("markerset", ""),
        filled=table.column("filled").to_numpy(zero_copy_only=False),
        refined=refined,
        extra={"capture": info},
        image=_image_columns(table),
        learned=learned,
    )
    write_trc_camera(out_trc, refined, markers, fps)


def _on_the_floor(
    placed: np.ndarray, feet, up, camera_height_m: float, visibility: np.ndarray, source: str
) -> tuple[np.ndarray, dict]:
    """Markers on their rays scaled about the camera centre so that the stance feet meet the
    floor, and what was decided; as they are (with a warning) where the floor cannot decide."""
    from depthrefine.capture.floor import STANCE_MARKER_HEIGHT_M, scale_to_floor

    try:
        found = scale_to_floor(placed, feet, np.asarray(up), camera_height_m, visibility=visibility)
    except ValueError as exc:
        log.warning("%s: the body's own scale is kept: %s", source, exc)
        return placed, {"camera_height_m": camera_height_m, "scale": None, "why_not": str(exc)}
    log.info(
        "%s: scaled by %.3f so that the feet stand on the floor %.2f m below the camera",
        source,
        found.scale,
        camera_height_m,
    )
    return placed * found.scale, {
        "camera_height_m": camera_height_m,
        "scale": round(found.scale, 4),
        "stance_level_m": round(found.stance_level_m, 4),
        "stance_frames": found.stance_frames,
        "stance_visibility": round(found.stance_visibility, 3),
        "stance_marker_height_m": STANCE_MARKER_HEIGHT_M,
    }


def _image_columns(table) -> np.ndarray | None:
    """The rays and visibility of an observations table as (F, M, 3), carried along."""
    image = read_rays(table)
    return None if image is None else np.concatenate([image[0], image[1][..., None]], axis=-1)
