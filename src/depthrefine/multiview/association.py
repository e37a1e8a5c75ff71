"""Who is who across views and frames: BlazePose detections of several synchronised cameras →
people, each with one detection per camera and frame (or none), left/right labels made
consistent between views.

Per frame (docs/multiview.md): every combination of one detection or none per camera with at
least ``min_views`` detections is triangulated on swap-invariant points (the nose and the
midpoints of the shoulders, hips, knees, ankles and wrists, which a left/right label swap
leaves in place). The combination with the most views whose worst view's median reprojection
error is under the gate becomes a person (ties: lowest error); its detections are taken out
and the search repeats. People are then linked across frames by their 3D hip centre. Finally,
per frame, each view's labels are swapped or not so that the views agree (lowest reprojection
error), and the whole body is flipped where the result is mirrored (the nose must point
forward from the ears with the left ear on the body's left, up being the world's up).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from depthrefine.capture.pose import MIRROR
from depthrefine.multiview.calibration import Camera
from depthrefine.multiview.triangulation import dlt, projection_matrices

NOSE, EARS, HIPS = 0, (7, 8), (23, 24)
INVARIANT_PAIRS = [(11, 12), (23, 24), (25, 26), (27, 28), (15, 16)]


def invariant_points(px: np.ndarray) -> np.ndarray:
    """(..., 33, 2) landmarks → (..., 6, 2) points that a left/right label swap does not move."""
    mids = [(px[..., a, :] + px[..., b, :]) / 2 for a, b in INVARIANT_PAIRS]
    return np.stack([px[..., NOSE, :]] + mids, axis=-2)


def _normalised(cameras: list[Camera], px: np.ndarray) -> np.ndarray:
    """(N, V, K, 2) pixels → undistorted normalised coordinates."""
    return np.stack([cam.undistort(px[:, v]) for v, cam in enumerate(cameras)], axis=1)


def _view_errors(cameras: list[Camera], X: np.ndarray, px: np.ndarray, used: np.ndarray) -> np.ndarray:
    """X (N, K, 3), px (N, V, K, 2), used (N, V) → (N, V) median reprojection error per view."""
    out = np.full(used.shape, np.nan)
    for v, cam in enumerate(cameras):
        rows = used[:, v] & np.isfinite(X).all(axis=(1, 2))
        if rows.any():
            err = np.linalg.norm(cam.project(X[rows]) - px[rows, v], axis=-1)
            out[rows, v] = np.median(err, axis=-1)
    return out


def associate_frame(
    cameras: list[Camera], detections: list[list[np.ndarray]], *, gate_px: float, min_views: int = 3
) -> list[dict]:
    """People in one frame: ``detections[v]`` are camera v's (33, ≥2) pixel landmarks. Returns a
    list of {"views": {camera index: detection index}, "hip": (3,) world, "points": (6, 3) the
    swap-invariant points (nose, mid-shoulders, -hips, -knees, -ankles, -wrists), "error_px"}."""
    n_views = len(cameras)
    remaining = [list(range(len(d))) for d in detections]
    P = projection_matrices(cameras)
    people = []
    while True:
        options = [[-1] + r for r in remaining]
        combos = np.array(
            [c for c in itertools.product(*options) if sum(k >= 0 for k in c) >= min_views], dtype=int
        ).reshape(-1, n_views)
        if not len(combos):
            return people
        used = combos >= 0
        px = np.zeros((len(combos), n_views, len(INVARIANT_PAIRS) + 1, 2))
        for v in range(n_views):
            for k in remaining[v]:
                px[combos[:, v] == k, v] = invariant_points(detections[v][k][:, :2])
        xy = _normalised(cameras, px)  # (C, V, K, 2)
        k_pts = px.shape[2]
        X = dlt(P, xy.transpose(0, 2, 1, 3).reshape(-1, n_views, 2), np.repeat(used, k_pts, axis=0))
        X = X.reshape(len(combos), k_pts, 3)
        worst = np.nanmax(np.where(used, _view_errors(cameras, X, px, used), -np.inf), axis=1)
        ok = np.isfinite(worst) & (worst <= gate_px)
        if not ok.any():
            return people
        order = np.lexsort((worst, -used.sum(axis=1)))
        best = next(i for i in order if ok[i])
        views = {v: int(k) for v, k in enumerate(combos[best]) if k >= 0}
        people.append({"views": views, "hip": X[best, 2], "points": X[best], "error_px": float(worst[best])})
        for v, k in views.items():
            remaining[v].remove(k)


def link_people(
    frames: list[list[dict]], *, max_step_m: float, max_jump_m: float, max_gap: int
) -> list[dict[int, dict]]:
    """Per-frame people → tracks (frame → person), nearest 3D hip centre first: within
    ``max_step_m`` per frame since the track was last seen, at most ``max_jump_m``, after gaps of
    up to ``max_gap`` frames (a person unseen for a while is still where they were last)."""
    tracks: list[dict] = []  # {"last": frame, "hip": (3,), "frames": {f: person}}
    for f, people in enumerate(frames):
        alive = [t for t in range(len(tracks)) if f - tracks[t]["last"] <= max_gap]
        pairs = sorted(
            (float(np.linalg.norm(p["hip"] - tracks[t]["hip"])), t, k) for t in alive for k, p in enumerate(people)
        )
        used_t, used_p = set(), set()
        for dist, t, k in pairs:
            if t in used_t or k in used_p or dist > min(max_step_m * (f - tracks[t]["last"]), max_jump_m):
                continue
            used_t.add(t)
            used_p.add(k)
            tracks[t].update(last=f, hip=people[k]["hip"])
            tracks[t]["frames"][f] = people[k]
        for k in set(range(len(people))) - used_p:
            tracks.append({"last": f, "hip": people[k]["hip"], "frames": {f: people[k]}})
    tracks.sort(key=lambda t: -len(t["frames"]))
    return [t["frames"] for t in tracks]


@dataclass
class ViewLabels:
    flipped: np.ndarray  # (V,) bool: this view's left/right labels were swapped to agree
    error_px: float  # median reprojection error of the agreed labels


def agree_labels(cameras: list[Camera], px: np.ndarray, up: np.ndarray) -> ViewLabels:
    """px (V, 33, 2) one person's landmarks in the views that see them (one frame). Tries
    every swap pattern (the first view's kept, then the whole body checked for chirality)."""
    n = len(cameras)
    patterns = np.array([(False,) + p for p in itertools.product((False, True), repeat=n - 1)])
    cand = np.stack([np.stack([px[v][MIRROR] if flip[v] else px[v] for v in range(n)]) for flip in patterns])
    P = projection_matrices(cameras)
    xy = _normalised(cameras, cand)  # (C, V, 33, 2)
    used = np.ones((len(patterns), n), dtype=bool)
    X = dlt(P, xy.transpose(0, 2, 1, 3).reshape(-1, n, 2), np.repeat(used, 33, axis=0)).reshape(len(patterns), 33, 3)
    err = _view_errors(cameras, X, cand, used)
    score = np.nanmedian(err, axis=1)
    best = int(np.nanargmin(score))
    flipped = patterns[best].copy()
    if mirrored(X[best], up):
        flipped = ~flipped
    return ViewLabels(flipped, float(score[best]))


def mirrored(landmarks: np.ndarray, up: np.ndarray) -> bool:
    """True if a triangulated body (33, 3) has its left ear on its right."""
    ears = landmarks[list(EARS)]
    forward = landmarks[NOSE] - ears.mean(axis=0)
    forward -= (forward @ up) * up
    left = np.cross(up, forward)
    return bool((ears[0] - ears[1]) @ left < 0)


# Limbs whose labels BlazePose swaps on their own (one leg or arm labelled as the other in one
# view while the body's labels are right): (left chain, right chain, left root, right root).
LIMBS = {
    "legs": ((25, 27, 29, 31), (26, 28, 30, 32), 23, 24),
    "arms": ((13, 15, 17, 19, 21), (14, 16, 18, 20, 22), 11, 12),
}


def agree_limb_labels(cameras: list[Camera], px: np.ndarray, *also: np.ndarray, cap_px: float = 100.0) -> np.ndarray:
    """px (F, V, 33, 2) one person's agreed-body pixels, NaN where unseen; modified in place,
    with every array of ``also`` (F, V, 33, ...) swapped the same way.
    Per frame and limb pair, every per-view swap pattern is triangulated (views seeing both
    chains); the one with the lowest summed reprojection error (each capped at ``cap_px`` so
    one wild landmark cannot decide) is kept, its labels chosen so that each chain hangs from
    the nearer root (the left knee nearer the left hip). Returns swapped (F, V, 2) bool."""
    n_frames, n_views = px.shape[:2]
    swapped = np.zeros((n_frames, n_views, len(LIMBS)), dtype=bool)
    P = projection_matrices(cameras)
    patterns = np.array(list(itertools.product((False, True), repeat=n_views)))  # (C, V)
    for g, (left, right, left_root, right_root) in enumerate(LIMBS.values()):
        chains = np.array(left + right)
        mirrored_chains = np.array(right + left)
        seen = np.isfinite(px[:, :, chains, 0]).all(axis=-1)  # (F, V)
        cand = np.where(patterns[:, None, :, None, None], px[None][:, :, :, mirrored_chains], px[None][:, :, :, chains])
        c, f, v, k = cand.shape[:4]
        xy = np.stack(
            [cam.undistort(cand[:, :, i].reshape(-1, 2)).reshape(c, f, k, 2) for i, cam in enumerate(cameras)], axis=2
        )
        used = np.broadcast_to(seen[None, :, None, :], (c, f, k, v)).reshape(-1, v)
        X = dlt(P, xy.transpose(0, 1, 3, 2, 4).reshape(-1, v, 2), used).reshape(c, f, k, 3)
        err = np.zeros((c, f))
        for i, cam in enumerate(cameras):
            proj = cam.project(np.nan_to_num(X.reshape(-1, 3))).reshape(c, f, k, 2)
            e = np.minimum(np.linalg.norm(proj - cand[:, :, i], axis=-1), cap_px)
            err += np.where(seen[None, :, i, None], np.nan_to_num(e, nan=cap_px), 0.0).sum(axis=-1)
        err[:, seen.sum(axis=1) < 3] = np.inf
        best = np.argmin(err, axis=0)  # (F,)
        for fr in np.flatnonzero(np.isfinite(err.min(axis=0))):
            pattern = patterns[best[fr]] & seen[fr]
            Xb = X[best[fr], fr]
            roots = _root_points(cameras, P, px[fr], (left_root, right_root))
            n_left = len(left)
            straight = np.linalg.norm(Xb[0] - roots[0]) + np.linalg.norm(Xb[n_left] - roots[1])
            crossed = np.linalg.norm(Xb[0] - roots[1]) + np.linalg.norm(Xb[n_left] - roots[0])
            if np.isfinite(straight) and crossed < straight:
                pattern = ~patterns[best[fr]] & seen[fr]
            swapped[fr, :, g] = pattern
            for i in np.flatnonzero(pattern):
                for a in (px, *also):
                    a[fr, i, chains] = a[fr, i, mirrored_chains].copy()
    return swapped


def _root_points(cameras: list[Camera], P: np.ndarray, px: np.ndarray, roots: tuple[int, int]) -> np.ndarray:
    """Triangulate the two roots (hips or shoulders) of one frame from every view seeing them."""
    pts = px[:, list(roots)]  # (V, 2, 2)
    seen = np.isfinite(pts[..., 0])
    xy = np.stack([cam.undistort(np.nan_to_num(pts[i])) for i, cam in enumerate(cameras)])  # (V, 2, 2)
    return dlt(P, xy.transpose(1, 0, 2), seen.T)
