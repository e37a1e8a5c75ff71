"""A multi-camera reference of real people: detections of every camera → people associated
across views → left/right labels agreed → (optionally) camera rotations refined → points
triangulated from ≥ 3 views → markers of the video marker set, with per-point reprojection
error and views used; plus, for every camera × person, that one camera's own monocular
BlazePose output for the person (what a single-camera user would get), ready to evaluate.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from depthrefine.capture.pose import HIPS, MIRROR, SHOULDERS, Detections
from depthrefine.markers.markersets import MarkerSet
from depthrefine.multiview.association import (
    agree_labels,
    agree_limb_labels,
    associate_frame,
    link_people,
)
from depthrefine.multiview.calibration import Camera
from depthrefine.multiview.refinement import calibration_observations, refine_rotations
from depthrefine.multiview.triangulation import Triangulated, reprojection_px, triangulate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceConfig:
    """The config's ``multiview`` section (the schema holds the defaults)."""

    pose_modes: list[str]  # BlazePose running modes whose detections the reference pools
    average_modes: list[str]  # … of which these are averaged per person (test-time augmentation)
    average_px: float  # detections of two averaged modes this close (mean landmark distance) are one person
    max_people: int  # detections per camera and frame
    min_visibility: float  # landmark observations below this BlazePose visibility are not used
    duplicate_px: float  # detections of two modes closer than this (mean landmark distance) are one
    association_gate_px: float  # worst view's median error of a person hypothesis
    gate_px: float  # worst view's error of a triangulated point
    view_error_px: float  # all views while their mean error is at most this, else the best subset
    min_views: int  # views per point (≥ 3: two close cameras can agree on a wrong point)
    link_step_m: float  # hip-centre movement per frame allowed when linking people over time
    link_jump_m: float  # … and at most this far after a gap
    link_gap_frames: int
    min_person_fraction: float  # people seen in fewer frames are dropped (and reported)
    refine_rotations: bool
    max_rotation_deg: float
    match_torso_fraction: float  # a camera's own detection matches a person within this × torso (px)
    min_pair_coverage: float  # camera × person pairs matched in fewer frames are not evaluated
    world_up: list[float] | None = None  # the calibration's up; each pair's camera up (stages.session_up)
    floor_height_m: float | None = 0.0  # the floor along world_up; each pair's camera height (stages.camera_height)

    @classmethod
    def from_dict(cls, d: dict) -> ReferenceConfig:
        from depthrefine.settings import checked_fields

        return cls(**checked_fields(cls, d, "multiview"))


@dataclass
class Person:
    name: str
    frames: np.ndarray  # (F,) bool: associated in this frame
    views: np.ndarray  # (F, V) int: detection index per camera, −1 none
    flipped: np.ndarray  # (F, V) bool: labels swapped in this view to agree with the others
    limbs_swapped: np.ndarray  # (F, V, 2) bool: legs, arms swapped on their own in this view
    pixels: np.ndarray  # (F, V, 33, 2) labels agreed; NaN where not seen
    visibility: np.ndarray  # (F, V, 33)
    landmarks: Triangulated | None = None  # over F × 33 points
    markers: dict = field(default_factory=dict)  # xyz (F, M, 3), error_px (F, M), views (F, M)


def _pixels(det: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(33, 3) normalised x, y, visibility → pixels and visibility."""
    return np.column_stack([det[:, 0] * size[0], det[:, 1] * size[1], det[:, 2]])


def _distance_px(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmean(np.linalg.norm(a[:, :2] - b[:, :2], axis=1)))


def averaged(per_mode: list[list[np.ndarray]], average_px: float) -> list[np.ndarray]:
    """One frame's pixel detections of several passes (one list per pass) → one detection per
    person: a detection joins the first person found by an earlier pass within ``average_px``
    (mean landmark distance, with its left/right labels swapped where that matches better:
    a pass may see the body mirrored) and each person is the mean of its passes' detections."""
    people: list[list[np.ndarray]] = []
    for dets in per_mode:
        taken: set[int] = set()
        for px in dets:
            for k, group in enumerate(people):
                if k in taken:
                    continue
                same, mirror = _distance_px(px, group[0]), _distance_px(px[MIRROR], group[0])
                if min(same, mirror) <= average_px:
                    group.append(px if same <= mirror else px[MIRROR])
                    taken.add(k)
                    break
            else:
                people.append([px])
                taken.add(len(people) - 1)
    return [np.mean(group, axis=0) for group in people]


def pooled_detections(
    per_mode: dict[str, Detections],
    size: tuple[int, int],
    modes: list[str],
    duplicate_px: float,
    average_modes: list[str] = (),
    average_px: float = 40.0,
) -> list[list[np.ndarray]]:
    """Per frame, the pixel detections of every mode: those of ``average_modes`` averaged per
    person (``averaged``), then the other modes' in order, a detection closer than
    ``duplicate_px`` to one already kept dropped."""
    unknown = sorted(set(average_modes) - set(modes))
    if unknown:
        raise ValueError(f"multiview.average_modes {unknown} are not among pose_modes {list(modes)}")
    n = len(per_mode[modes[0]].image)
    out = []
    for f in range(n):
        kept = averaged([[_pixels(d, size) for d in per_mode[m].image[f]] for m in average_modes], average_px)
        for mode in modes:
            if mode in average_modes:
                continue
            for det in per_mode[mode].image[f]:
                px = _pixels(det, size)
                if all(_distance_px(px, k) > duplicate_px for k in kept):
                    kept.append(px)
        out.append(kept)
    return out


def world_up(tracks: list[dict[int, dict]]) -> np.ndarray:
    """The world's up: the mean direction from ankles to shoulders of everyone associated
    (people stand upright on average; no calibration convention needed)."""
    vecs = [p["points"][1] - p["points"][4] for t in tracks for p in t.values()]
    up = np.nanmean(vecs, axis=0)
    return up / np.linalg.norm(up)


def associate(cameras: list[Camera], detections: list[list[list[np.ndarray]]], cfg: ReferenceConfig):
    """detections[v][f] → (people as tracks, dropped tracks' frame counts, world up)."""
    n_frames = len(detections[0])
    frames = [
        associate_frame(
            cameras,
            [detections[v][f] for v in range(len(cameras))],
            gate_px=cfg.association_gate_px,
            min_views=cfg.min_views,
        )
        for f in range(n_frames)
    ]
    tracks = link_people(frames, max_step_m=cfg.link_step_m, max_jump_m=cfg.link_jump_m, max_gap=cfg.link_gap_frames)
    keep = [t for t in tracks if len(t) >= cfg.min_person_fraction * n_frames]
    dropped = [len(t) for t in tracks if len(t) < cfg.min_person_fraction * n_frames]
    return keep, dropped, world_up(keep) if keep else np.array([0.0, 0.0, 1.0])


def build_person(
    name: str, track: dict[int, dict], cameras: list[Camera], detections, up: np.ndarray, n_frames: int
) -> Person:
    """One person's per-view pixels over the clip, labels agreed between views per frame."""
    v = len(cameras)
    person = Person(
        name,
        np.zeros(n_frames, dtype=bool),
        np.full((n_frames, v), -1),
        np.zeros((n_frames, v), dtype=bool),
        np.zeros((n_frames, v, 2), dtype=bool),
        np.full((n_frames, v, 33, 2), np.nan),
        np.zeros((n_frames, v, 33)),
    )
    for f, found in track.items():
        cams = sorted(found["views"])
        px = np.stack([detections[c][f][found["views"][c]] for c in cams])  # (n, 33, 3)
        labels = agree_labels([cameras[c] for c in cams], px[..., :2], up)
        person.frames[f] = True
        for i, c in enumerate(cams):
            det = px[i][MIRROR] if labels.flipped[i] else px[i]
            person.views[f, c] = found["views"][c]
            person.flipped[f, c] = labels.flipped[i]
            person.pixels[f, c] = det[:, :2]
            person.visibility[f, c] = det[:, 2]
    person.limbs_swapped = agree_limb_labels(cameras, person.pixels, person.visibility)
    return person


def observations(person: Person, min_visibility: float) -> tuple[np.ndarray, np.ndarray]:
    """(F·33, V, 2) pixels and (F·33, V) seen flags of one person."""
    f, v = person.views.shape
    seen = np.isfinite(person.pixels[..., 0]) & (person.visibility >= min_visibility)
    return person.pixels.transpose(0, 2, 1, 3).reshape(f * 33, v, 2), seen.transpose(0, 2, 1).reshape(f * 33, v)


def four_view_median_px(cameras: list[Camera], obs: list[tuple[np.ndarray, np.ndarray]], gate_px: float) -> float:
    """Median reprojection error of the points seen in every view, triangulated from all of
    them (no view left out: the calibration's own consistency, before/after refinement)."""
    errors = []
    for px, seen in obs:
        every = seen.all(axis=1)
        if every.any():
            tri = triangulate(cameras, px[every], seen[every], gate_px=gate_px, min_views=len(cameras))
            errors.append(tri.error_px)
    errors = np.concatenate(errors) if errors else np.zeros(0)
    errors = errors[np.isfinite(errors)]
    return float(np.median(errors)) if errors.size else float("nan")


def landmarks_to_reference_markers(
    tri: Triangulated, px: np.ndarray, cameras: list[Camera], n_frames: int, ms: MarkerSet
) -> dict:
    """Triangulated landmarks (F·33) with their pixels (F·33, V, 2) → the marker set's
    markers: a marker that averages several landmarks (midHip, Neck) exists where all of them
    do. Its reprojection error is its own: its projection against the mean of its landmarks'
    pixels, over the views all of them were triangulated from (the mean of the landmarks'
    errors overstates it: their opposite errors cancel in the mid-point; lab man: 10.00 →
    9.80 px median) — for one landmark that is the landmark's error."""
    pts = tri.points.reshape(n_frames, 33, 3)
    used_views = tri.views.reshape(n_frames, 33, -1)
    pixels = px.reshape(n_frames, 33, -1, 2)
    err = tri.error_px.reshape(n_frames, 33)
    xyz, error, used = [], [], []
    for name in ms.names:
        idx = list(ms.landmarks[name])
        marker = pts[:, idx].mean(axis=1)
        xyz.append(marker)
        used.append(used_views[:, idx].sum(axis=-1).min(axis=1))
        if len(idx) == 1:
            error.append(err[:, idx[0]])
            continue
        shared = used_views[:, idx].all(axis=1)  # (F, V)
        per_view = reprojection_px(cameras, marker, pixels[:, idx].mean(axis=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames without a shared view
            own = np.nanmean(np.where(shared, per_view, np.nan), axis=1)
        # No view shared (possible with ≥ 6 cameras): the landmarks' mean error.
        error.append(np.where(shared.any(axis=1), own, err[:, idx].mean(axis=1)))
    return {"xyz": np.stack(xyz, axis=1), "error_px": np.stack(error, axis=1), "views": np.stack(used, axis=1)}


def match_camera_detections(
    person: Person, cam: Camera, own: Detections, size: tuple[int, int], torso_fraction: float
) -> np.ndarray:
    """Per frame, the index of this camera's own (single-camera pipeline) detection that is the
    person: the one whose 2D hip centre is nearest the projected reference hip centre, within
    ``torso_fraction`` × the projected torso length; −1 where none is."""
    pts = person.landmarks.points.reshape(len(person.frames), 33, 3)
    out = np.full(len(person.frames), -1)
    for f, dets in enumerate(own.image):
        hips, shoulders = pts[f, list(HIPS)].mean(axis=0), pts[f, list(SHOULDERS)].mean(axis=0)
        if not dets or not (np.isfinite(hips).all() and np.isfinite(shoulders).all()):
            continue
        hip_px, shoulder_px = cam.project(np.stack([hips, shoulders]))
        gate = torso_fraction * np.linalg.norm(shoulder_px - hip_px)
        dist = [np.linalg.norm(_pixels(d, size)[list(HIPS), :2].mean(axis=0) - hip_px) for d in dets]
        k = int(np.argmin(dist))
        if dist[k] <= gate:
            out[f] = k
    return out


def _people(cameras: list[Camera], detections, cfg: ReferenceConfig) -> tuple[list[Person], np.ndarray, list[int]]:
    tracks, dropped, up = associate(cameras, detections, cfg)
    log.info("%d people associated (%d brief tracks dropped: %s frames)", len(tracks), len(dropped), dropped)
    n_frames = len(detections[0])
    return [build_person(f"p{i}", t, cameras, detections, up, n_frames) for i, t in enumerate(tracks)], up, dropped


def _triangulation(cfg: ReferenceConfig) -> dict:
    return {"gate_px": cfg.gate_px, "min_views": cfg.min_views, "prefer_px": cfg.view_error_px}


def build_reference(
    cameras: list[Camera], per_camera: list[dict[str, Detections]], ms: MarkerSet, cfg: ReferenceConfig
) -> dict:
    """The whole reference of one session (module doc). Returns people, QC and calibration."""
    sizes = [cam.size for cam in cameras]
    detections = [
        pooled_detections(d, s, cfg.pose_modes, cfg.duplicate_px, cfg.average_modes, cfg.average_px)
        for d, s in zip(per_camera, sizes)
    ]
    n_frames = len(detections[0])
    people, up, dropped = _people(cameras, detections, cfg)
    obs = [observations(p, cfg.min_visibility) for p in people]
    before = [triangulate(cameras, px, seen, **_triangulation(cfg)) for px, seen in obs]
    qc = {
        "frames": n_frames,
        "cameras": [c.name for c in cameras],
        "up": up.tolist(),
        "view_error_px": cfg.view_error_px,
        "median_4view_px_before": four_view_median_px(cameras, obs, cfg.gate_px),
    }
    refined = cameras
    if cfg.refine_rotations and people:
        points, px, seen = calibration_observations(before, [o[0] for o in obs], cfg.gate_px)
        refined, degrees = refine_rotations(cameras, points, px, seen, max_deg=cfg.max_rotation_deg)
        qc["rotation_deg"] = {c.name: d.round(3).tolist() for c, d in zip(cameras, degrees)}
        log.info("camera rotations refined (deg): %s", qc["rotation_deg"])
        # The refined cameras associate better too: one more pass.
        people, up, dropped = _people(refined, detections, cfg)
        obs = [observations(p, cfg.min_visibility) for p in people]
    qc["dropped_tracks"] = dropped
    for p, (px, seen) in zip(people, obs):
        p.landmarks = triangulate(refined, px, seen, **_triangulation(cfg))
        p.markers = landmarks_to_reference_markers(p.landmarks, px, refined, n_frames, ms)
    qc["median_4view_px_after"] = four_view_median_px(refined, obs, cfg.gate_px)
    return {"people": ranked(people), "cameras": refined, "qc": qc}


def ranked(people: list[Person]) -> list[Person]:
    """The people renamed p0, p1, … by how much of them is referenced (marker-frames kept),
    most first: a stable order (tracks tie in length: the lab's man and woman are both
    associated in 85 of 100 frames) in which p0 is the best-referenced person."""
    order = sorted(people, key=lambda p: -int(np.isfinite(p.markers["xyz"][..., 0]).sum()))
    for i, person in enumerate(order):
        person.name = f"p{i}"
    return order
