"""The monocular 3D error model fitted to real residuals (issue 11, step 3).

Raw BlazePose world landmarks against a 4-camera reference (evaluation/error_fit.py) err in
depth in a few structured ways; each is one component here, each drawn per clip variant, each
in the camera frame and on depth only (x, y follow the image, so the refiner on rays sees
depth errors alone):

* lag: the estimate trails the truth by ``lag_s``;
* whole-body rotation about the vertical through the pelvis: a per-clip angle (sd
  ``yaw_clip_deg``) plus a slow wobble (sd ``yaw_wobble_deg``, keyframes ``yaw_interval_s``);
* whole-body depth scale: hip-relative depth times ``body_depth_median`` · exp(N(0,
  ``body_depth_scale``)) (BlazePose flattens or deepens a whole clip);
* per limb (leg and arm chains) a front/back offset growing from the limb's root to its end
  (per clip, sd ``limb_offset_m``; slow part sd ``limb_wobble_m``, keyframes
  ``limb_interval_s``) — with the depth scale, what makes the bone lengths wrong;
* per marker: temporally correlated noise (sd ``marker_noise_m``, keyframes
  ``marker_interval_s``) and white jitter (sd ``jitter_m``).

"Keyframes" (``keyframe_process``): Gaussian values every interval, Catmull–Rom interpolated and
rescaled to unit variance at every phase — smooth, not white, and local, so an hour of motion
costs no more per frame than a second. The components add (first order in each).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from depthrefine.settings import checked_fields

# The limbs whose depth is off as a whole: a segment and everything below it (mocap/anatomy.py).
LIMB_SEGMENTS = ("left_thigh", "right_thigh", "left_upper_arm", "right_upper_arm")


@dataclass(frozen=True)
class MonocularErrors:
    """The model's parameters: the config's ``corruption.monocular`` section."""

    lag_s: float
    yaw_clip_deg: float
    yaw_wobble_deg: float
    yaw_interval_s: float
    body_depth_median: float
    body_depth_scale: float
    limb_offset_m: float
    limb_wobble_m: float
    limb_interval_s: float
    marker_noise_m: float
    marker_interval_s: float
    jitter_m: float

    @classmethod
    def from_dict(cls, d: dict) -> MonocularErrors:
        return cls(**{k: float(v) for k, v in checked_fields(cls, d, "corruption.monocular").items()})

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _catmull_rom_weights(u: np.ndarray) -> np.ndarray:
    """(n, 4) weights of the four knots around phase u ∈ [0, 1) of a Catmull–Rom segment."""
    u2, u3 = u * u, u * u * u
    return 0.5 * np.stack([-u3 + 2 * u2 - u, 3 * u3 - 5 * u2 + 2, -3 * u3 + 4 * u2 + u, u3 - u2], axis=-1)


def keyframe_process(rng: np.random.Generator, n: int, channels: int, fps: float, interval_s: float) -> np.ndarray:
    """(n, channels) zero-mean Gaussian process with unit variance at every frame: independent
    N(0, 1) keyframes every ``interval_s`` (at a random phase), Catmull–Rom interpolated."""
    step = interval_s * fps  # frames per keyframe interval
    position = np.arange(n) / step + rng.random()
    knot = np.floor(position).astype(int)
    u = position - knot
    values = rng.standard_normal((int(knot[-1]) + 4, channels)) if n else np.zeros((0, channels))
    w = _catmull_rom_weights(u)
    out = sum(w[:, k, None] * values[knot + k] for k in range(4))
    return out / np.sqrt((w * w).sum(axis=1))[:, None]


def rotate_about(rel: np.ndarray, up: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Points (F, M, 3) rotated by theta (F,) radians about the unit axis ``up`` (3,) (Rodrigues)."""
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    along = (rel @ up)[..., None] * up
    return rel * c + np.cross(up, rel) * s + along * (1.0 - c)


Limb = tuple[list[int], list[int]]  # (every marker of the limb, those on its top segment)


def whole_limbs(groups: list[str], segment_parents: dict) -> list[Limb]:
    """The legs and arms (LIMB_SEGMENTS) of a marker set: for each its markers (on the top
    segment or any below it) and those on the top segment, where its root is."""
    from depthrefine.markers.stages import limb_markers

    out = []
    for top in LIMB_SEGMENTS:
        for members in limb_markers(groups, segment_parents, [top]):
            on_top = [i for i in members if groups[i] == top]
            if on_top:
                out.append((members, on_top))
    return out


def limb_roots(world: np.ndarray, pelvis: tuple[int, int], limbs: list[Limb]) -> list[tuple[int, np.ndarray]]:
    """For each limb its root (of its top segment's markers, the one nearest the pelvis centre:
    a hanging elbow can be nearer than the shoulder) and every member's weight: its distance
    from the root over the limb's longest (medians over the clip; NaN-aware)."""
    centre = 0.5 * (world[:, pelvis[0]] + world[:, pelvis[1]])
    out = []
    for members, on_top in limbs:
        limb, top = np.asarray(members), np.asarray(on_top)
        root = int(top[np.argmin(np.nanmedian(np.linalg.norm(world[:, top] - centre[:, None], axis=2), axis=0))])
        reach = np.nanmedian(np.linalg.norm(world[:, limb] - world[:, root : root + 1], axis=2), axis=0)
        out.append((root, reach / max(float(reach.max()), 1e-9)))
    return out


def delayed(z: np.ndarray, fps: float, lag_s: float) -> np.ndarray:
    """(F, M) values at t − lag (linear interpolation; the first frame held before the start)."""
    t = np.arange(len(z)) / fps
    return np.stack([np.interp(t - lag_s, t, z[:, j]) for j in range(z.shape[1])], axis=1)


def depth_errors(
    true: np.ndarray,
    fps: float,
    rng: np.random.Generator,
    params: MonocularErrors,
    *,
    up: np.ndarray,
    pelvis: tuple[int, int],
    limbs: list[Limb],
) -> dict[str, np.ndarray]:
    """Each component's depth error (F, M) for camera-frame markers ``true`` (F, M, 3), and their
    sum under "total". ``up``: the world's vertical in camera axes; ``limbs``: ``whole_limbs``."""
    n, m, _ = true.shape
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    centre = 0.5 * (true[:, pelvis[0]] + true[:, pelvis[1]])
    rel = true - centre[:, None]
    z = true[..., 2]
    out = {"lag": delayed(z, fps, params.lag_s) - z}

    theta = np.deg2rad(params.yaw_clip_deg * rng.standard_normal())
    theta = theta + np.deg2rad(params.yaw_wobble_deg) * keyframe_process(rng, n, 1, fps, params.yaw_interval_s)[:, 0]
    out["yaw"] = rotate_about(rel, up, theta)[..., 2] - rel[..., 2]
    factor = params.body_depth_median * np.exp(params.body_depth_scale * rng.standard_normal())
    out["body_scale"] = (factor - 1.0) * rel[..., 2]

    limb = np.zeros((n, m))
    for (_, weight), (members, _) in zip(limb_roots(true, pelvis, limbs), limbs):
        members = np.asarray(members)
        offset = params.limb_offset_m * rng.standard_normal()
        offset = offset + params.limb_wobble_m * keyframe_process(rng, n, 1, fps, params.limb_interval_s)
        limb[:, members] += offset * weight
    out["limb"] = limb
    out["marker"] = params.marker_noise_m * keyframe_process(rng, n, m, fps, params.marker_interval_s)
    out["jitter"] = params.jitter_m * rng.standard_normal((n, m))
    out["total"] = sum(out.values())
    return out
