"""Video → 3D landmarks of one person with MediaPipe BlazePose (Tasks API, VIDEO mode).

World landmarks are metres, hip-centred, camera-aligned (x right, y down, z away from the
camera): the project's camera frame, with z the monocular depth we refine. Image landmarks
(normalised x, y) are kept to follow one person and to draw the report's video frame.

Following one person (docs/video.md): up to ``max_people`` poses are detected per frame and
linked into tracks frame by frame: each detection joins the track whose last 2D hip centre is
nearest, if within ``max(0.1, 1.5 × that person's torso length)`` (normalised image units),
nearest pairs first; otherwise it starts a new track. The person followed is the track seen in
the most frames (ties: the larger person on screen); frames without them count as missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depthrefine.errors import DataError

log = logging.getLogger(__name__)

NUM_LANDMARKS = 33
HIPS, SHOULDERS = (23, 24), (11, 12)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi")
# BlazePose landmark i's mirror image (left ↔ right).
MIRROR = np.arange(NUM_LANDMARKS)
for _a, _b in [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10)] + [(i, i + 1) for i in range(11, 33, 2)]:
    MIRROR[_a], MIRROR[_b] = _b, _a


def unflipped(image: np.ndarray, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks detected on a horizontally mirrored frame → the frame's own: normalised image
    x → 1 − x, world x → −x, and each landmark takes its mirror's label (the mirrored left
    wrist is the person's right wrist)."""
    image, world = image[MIRROR].copy(), world[MIRROR].copy()
    image[:, 0] = 1.0 - image[:, 0]
    world[:, 0] = -world[:, 0]
    return image, world


@dataclass
class VideoPoses:
    """Per-frame landmarks of the followed person; NaN where they were not detected."""

    world: np.ndarray  # (F, 33, 3) metres, camera axes, hip-centred
    image: np.ndarray  # (F, 33, 3) normalised x, y in [0, 1] and visibility
    people: np.ndarray  # (F,) detections in the frame
    fps: float
    width: int
    height: int


def video_info(path: str | Path) -> tuple[float, int, int, int]:
    """(fps, frames, width, height); a clear error for a file that is not a readable video."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        ok, _ = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            raise DataError(path, "cannot decode any frame (not a video, or an unsupported codec / zero frames)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if not fps or not np.isfinite(fps) or fps <= 0:
        raise DataError(path, "the video has no frame rate")
    return float(fps), frames, width, height


def iter_frames(path: str | Path):
    """RGB frames (H, W, 3) uint8 of a video, in order."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _size(image_xy: np.ndarray) -> float:
    span = image_xy[:, :2].max(axis=0) - image_xy[:, :2].min(axis=0)
    return float(span[0] * span[1])


def _hip_centre(image_xy: np.ndarray) -> np.ndarray:
    return image_xy[list(HIPS), :2].mean(axis=0)


def _torso(image_xy: np.ndarray) -> float:
    return float(np.linalg.norm(image_xy[list(SHOULDERS), :2].mean(axis=0) - _hip_centre(image_xy)))


def follow_one_person(candidates: list[list[np.ndarray]]) -> list[int | None]:
    """Per frame, the index of the followed person's detection (or None); ``candidates[f]`` holds
    the (33, ≥2) normalised image landmarks of each detection in frame f (rule: module doc)."""
    tracks: list[dict] = []  # {"centre", "torso", "frames": {frame: detection index}, "size"}
    for f, dets in enumerate(candidates):
        pairs = sorted(
            (float(np.linalg.norm(_hip_centre(d) - tr["centre"])), t, k)
            for t, tr in enumerate(tracks)
            for k, d in enumerate(dets)
        )
        used_tracks, used_dets = set(), set()
        for dist, t, k in pairs:  # greedy nearest-first association with a gate
            if t in used_tracks or k in used_dets or dist > max(0.1, 1.5 * tracks[t]["torso"]):
                continue
            used_tracks.add(t)
            used_dets.add(k)
            tracks[t]["frames"][f] = k
        for k in set(range(len(dets))) - used_dets:
            tracks.append({"frames": {f: k}, "size": 0.0})
            used_tracks.add(len(tracks) - 1)
        for t in used_tracks:
            d = dets[tracks[t]["frames"][f]]
            tracks[t].update(centre=_hip_centre(d), torso=_torso(d))
            tracks[t]["size"] += _size(d)
    chosen: list[int | None] = [None] * len(candidates)
    if tracks:
        best = max(tracks, key=lambda tr: (len(tr["frames"]), tr["size"]))
        for f, k in best["frames"].items():
            chosen[f] = k
    return chosen


@dataclass
class Detections:
    """Every pose BlazePose found in every frame of one video."""

    image: list[list[np.ndarray]]  # per frame, per detection: (33, 3) normalised x, y and visibility
    world: list[list[np.ndarray]]  # per frame, per detection: (33, 3) metres, camera axes, hip-centred
    fps: float
    width: int
    height: int


def detect_poses(
    video: str | Path,
    model_path: str | Path,
    *,
    max_people: int = 2,
    min_confidence: float = 0.5,
    mode: str = "video",
    progress: bool = True,
) -> Detections:
    """Run BlazePose over every frame (progress bar over frames), keeping every detection.
    ``mode`` "video" tracks poses between frames; "image" detects each frame afresh (finds
    people that tracking loses, at the price of more jitter); "flip" detects each frame afresh
    on its mirror image and maps the landmarks back (``unflipped``): a second, partly
    independent look of the same network (test-time augmentation)."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    fps, n_frames, width, height = video_info(video)
    if not Path(model_path).is_file():
        raise FileNotFoundError(f"pose model {model_path} not found (config pose_model)")
    running = {"video": vision.RunningMode.VIDEO, "image": vision.RunningMode.IMAGE, "flip": vision.RunningMode.IMAGE}
    if mode not in running:
        raise ValueError(f"pose mode must be one of {sorted(running)}, got {mode!r}")
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        running_mode=running[mode],
        num_poses=max_people,
        min_pose_detection_confidence=min_confidence,
        min_pose_presence_confidence=min_confidence,
        min_tracking_confidence=min_confidence,
    )
    worlds, images = [], []
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        frames = tqdm(
            iter_frames(video),
            total=n_frames or None,
            desc=f"pose {Path(video).name}",
            unit="frame",
            mininterval=2.0,
            disable=not progress,
        )
        for i, rgb in enumerate(frames):
            if mode == "flip":
                rgb = np.ascontiguousarray(rgb[:, ::-1])
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            if mode == "video":
                result = landmarker.detect_for_video(image, int(round(i * 1000.0 / fps)))
            else:
                result = landmarker.detect(image)
            found = [
                (np.array([[p.x, p.y, p.visibility or 0.0] for p in im]), np.array([[p.x, p.y, p.z] for p in wo]))
                for im, wo in zip(result.pose_landmarks, result.pose_world_landmarks)
            ]
            if mode == "flip":
                found = [unflipped(im, wo) for im, wo in found]
            images.append([im for im, _ in found])
            worlds.append([wo for _, wo in found])
    if not worlds:
        raise DataError(video, "the video has zero frames")
    return Detections(images, worlds, fps, width, height)


def estimate_poses(
    video: str | Path,
    model_path: str | Path,
    *,
    max_people: int = 2,
    min_confidence: float = 0.5,
    progress: bool = True,
) -> VideoPoses:
    """Run BlazePose over every frame (progress bar over frames) and follow one person."""
    found = detect_poses(
        video, model_path, max_people=max_people, min_confidence=min_confidence, mode="video", progress=progress
    )
    worlds, images = found.world, found.image
    chosen = follow_one_person(images)
    world = np.full((len(worlds), NUM_LANDMARKS, 3), np.nan)
    image = np.full((len(worlds), NUM_LANDMARKS, 3), np.nan)
    for f, k in enumerate(chosen):
        if k is not None:
            world[f], image[f] = worlds[f][k], images[f][k]
    people = np.array([len(d) for d in images])
    if not np.isfinite(world).any():
        raise DataError(video, f"no person detected in any of its {len(worlds)} frames")
    log.info(
        "%s: %d frames at %.3g fps, person followed in %d, up to %d people per frame",
        video,
        len(worlds),
        found.fps,
        int(np.isfinite(world[:, 0, 0]).sum()),
        int(people.max()),
    )
    return VideoPoses(world, image, people, found.fps, found.width, found.height)


def landmarks_to_markers(landmarks: np.ndarray, mapping: dict[str, tuple[int, ...]], names: list[str]) -> np.ndarray:
    """(F, 33, 3) landmarks → (F, M, 3) markers: each marker the mean of its landmarks."""
    return np.stack([landmarks[:, list(mapping[n])].mean(axis=1) for n in names], axis=1)


def draw_landmarks(
    video: str | Path, frame_index: int, image_xy: np.ndarray, out_png: str | Path, edges: list[tuple[int, int]]
) -> None:
    """Save one video frame with the followed person's 2D landmarks and skeleton drawn on it."""
    import cv2

    from depthrefine.io import atomic_path

    for i, rgb in enumerate(iter_frames(video)):  # noqa: B007 - rgb is the frame found
        if i == frame_index:
            break
    else:
        raise DataError(video, f"frame {frame_index} cannot be read")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = bgr.shape[:2]
    pts = [(int(round(x * w)), int(round(y * h))) for x, y in image_xy[:, :2]]
    thick = max(2, int(round(min(h, w) / 250)))
    for a, b in edges:
        cv2.line(bgr, pts[a], pts[b], (255, 200, 0), thick, cv2.LINE_AA)
    for p in pts:
        cv2.circle(bgr, p, thick * 2, (0, 0, 255), -1, cv2.LINE_AA)
    scale = min(1.0, 960 / max(h, w))  # keep the embedded image small
    if scale < 1.0:
        bgr = cv2.resize(bgr, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    with atomic_path(out_png) as tmp:
        ok, buf = cv2.imencode(".png", bgr)
        if not ok:
            raise RuntimeError(f"cannot encode {out_png}")
        tmp.write_bytes(buf.tobytes())
