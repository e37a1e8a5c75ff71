"""A virtual camera around the subject, and depth errors the way monocular lifters make them.

Camera frame (OpenCV / MediaPipe convention): x right, y down, z forward along the optical
axis, so z is the depth. The error model per clip variant, with level σ = ``noise_mm``:

* drift: low-frequency (Butterworth-filtered) Gaussian processes, one shared by the whole
  body, one per body segment (markers carried by the same joint frame) and one per marker;
* jitter: white frame-to-frame noise per marker;
* both scaled per marker by a distal gain (0.6 at the pelvis → 1.5 at the most distal
  marker) so hands and feet err most; drift and jitter variances add up to (σ·gain)²;
* front/back ambiguity: now and then a limb's depth relative to its proximal marker is
  mirrored for 0.2–1 s (smoothly blended in and out);
* image-plane (x, y) noise: small, half drift and half jitter.

That is ``error_model: synthetic``. ``error_model: fitted`` replaces the depth errors (drift,
jitter, flips) by the monocular error model fitted to real residuals (markers/monocular.py,
parameters in ``monocular``); camera and image-plane noise stay. ``mixed``: the odd variants
of every clip fitted, the even ones synthetic.

``camera: orbit`` is the camera above (azimuth, elevation, distance); ``camera: virtual`` a
phone or webcam all round the subject whose 2D detections (noise, outliers, drops, left/right
swaps) give the rays the estimate is put on, as a video's capture is (markers/virtual_camera.py).

Everything is drawn from a generator seeded by (seed, clip id, variant), so the same inputs
give identical numbers.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt, sosfreqz

from depthrefine.capture.rays import project
from depthrefine.markers.monocular import MonocularErrors, depth_errors
from depthrefine.markers.virtual_camera import VirtualCameraConfig, capture_on_rays, detected_pixels, place_phone
from depthrefine.mocap.anatomy import NOISE_ORDER
from depthrefine.settings import checked_fields

UP = np.array([0.0, 1.0, 0.0])  # world up of the CMU BVH data
ERROR_MODELS = ("synthetic", "fitted", "mixed")


@dataclass(frozen=True)
class CorruptionConfig:
    """The corruption model's parameters: the config's ``corruption`` section (the schema holds
    the defaults; ``flip_limbs`` is read by the stage, which knows the skeleton)."""

    azimuth_deg: tuple[float, float]
    both_sides: bool  # camera to the subject's left or right (sign of the azimuth)
    elevation_deg: tuple[float, float]
    distance_m: tuple[float, float]
    noise_mm: tuple[float, float]
    drift_share: float  # fraction of the depth-error variance that is drift
    drift_cutoff_hz: float
    segment_correlation: float  # share of a marker's drift std that its segment shares
    body_correlation: float  # share that the whole body shares
    distal_gain: tuple[float, float]
    flip_rate_hz: float
    flip_duration_s: tuple[float, float]
    image_noise_mm: float
    variants: int
    error_model: str  # ERROR_MODELS
    monocular: MonocularErrors  # the fitted model's parameters (error_model: fitted)
    camera: str  # orbit (place_camera) | virtual (virtual_camera.place_phone, the capture on rays)
    virtual_camera: VirtualCameraConfig

    @classmethod
    def from_dict(cls, d: dict) -> CorruptionConfig:
        """Every field required, unknown keys refused; lists become tuples."""
        kw = checked_fields(cls, {k: v for k, v in d.items() if k != "flip_limbs"}, "corruption")
        if kw["error_model"] not in ERROR_MODELS:
            raise ValueError(f"corruption.error_model: {kw['error_model']!r} is not one of {', '.join(ERROR_MODELS)}")
        if kw["camera"] not in ("orbit", "virtual"):
            raise ValueError(f"corruption.camera: {kw['camera']!r} is not orbit or virtual")
        kw["monocular"] = MonocularErrors.from_dict(kw["monocular"])
        kw["virtual_camera"] = VirtualCameraConfig.from_dict(kw["virtual_camera"])
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})


@dataclass(frozen=True)
class Camera:
    rotation: np.ndarray  # (3, 3) world → camera, rows = camera x (right), y (down), z (forward)
    position_m: np.ndarray  # (3,) world
    azimuth_deg: float
    elevation_deg: float
    distance_m: float

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        return (world - self.position_m) @ self.rotation.T


def clip_rng(seed: int, clip: str, variant: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(clip.encode()), int(variant)]))


def facing_direction(left_hip: np.ndarray, right_hip: np.ndarray) -> np.ndarray:
    """Mean horizontal facing direction over the clip (unit vector): forward = left × up."""
    forward = np.cross(left_hip - right_hip, UP)
    forward[:, 1] = 0.0
    forward /= np.maximum(np.linalg.norm(forward, axis=1, keepdims=True), 1e-9)
    mean = forward.mean(axis=0)
    if np.linalg.norm(mean) < 1e-6:  # turns all the way round: use the first frame
        mean = forward[0]
    return mean / np.linalg.norm(mean)


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, UP)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def place_camera(world: np.ndarray, pelvis: tuple[int, int], rng: np.random.Generator, cfg: CorruptionConfig) -> Camera:
    """A static camera at the sampled azimuth (from the facing direction), elevation and distance,
    looking at the clip's mean pelvis position; pushed back if the subject would come closer than 1.5 m."""
    left, right = world[:, pelvis[0]], world[:, pelvis[1]]
    centre = 0.5 * (left + right).mean(axis=0)
    azimuth = rng.uniform(*cfg.azimuth_deg)
    if cfg.both_sides and rng.random() < 0.5:
        azimuth = -azimuth
    elevation = rng.uniform(*cfg.elevation_deg)
    distance = rng.uniform(*cfg.distance_m)
    forward = facing_direction(left, right)
    a = np.deg2rad(azimuth)
    # Rotate the facing direction about the vertical: positive azimuth = towards the subject's left.
    side = np.cross(UP, forward)
    direction = np.cos(a) * forward + np.sin(a) * side
    horizontal = world[:, :, [0, 2]].reshape(-1, 2) - centre[[0, 2]]
    distance = max(distance, float(np.linalg.norm(horizontal, axis=1).max()) + 1.5)
    e = np.deg2rad(elevation)
    position = centre + distance * (np.cos(e) * direction + np.sin(e) * UP)
    return Camera(look_at(position, centre), position, float(azimuth), float(elevation), float(distance))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], fps: float, cutoff_hz: float) -> np.ndarray:
    """Zero-mean Gaussian process of unit variance (in expectation), low-passed along axis 0."""
    white = rng.standard_normal(shape)
    wn = min(cutoff_hz / (fps / 2.0), 0.99)
    sos = butter(2, wn, output="sos")
    pad = min(shape[0] - 1, 3 * 6)
    smooth = sosfiltfilt(sos, white, axis=0, padlen=pad)
    _, h = sosfreqz(sos, worN=4096)
    gain = np.sqrt(np.mean(np.abs(h) ** 4))  # filtfilt applies |H|² to unit-variance white noise
    return smooth / gain


def _image_noise(rng: np.random.Generator, n: int, m: int, fps: float, cfg: CorruptionConfig) -> np.ndarray:
    """(n, m, 2) x, y noise in the image plane: half drift, half jitter, σ = image_noise_mm."""
    smooth = _smooth_noise(rng, (n, m * 2), fps, cfg.drift_cutoff_hz)
    return (cfg.image_noise_mm / 1000.0 * np.sqrt(0.5) * (smooth + rng.standard_normal((n, m * 2)))).reshape(n, m, 2)


def distal_gains(world: np.ndarray, pelvis: tuple[int, int], lo: float, hi: float) -> np.ndarray:
    centre = 0.5 * (world[:, pelvis[0]] + world[:, pelvis[1]])
    dist = np.median(np.linalg.norm(world - centre[:, None], axis=2), axis=0)
    return lo + (hi - lo) * dist / max(dist.max(), 1e-9)


def _flip_weights(rng: np.random.Generator, n: int, fps: float, cfg: CorruptionConfig) -> np.ndarray:
    """Blend weight in [0, 1] per frame for one limb's front/back flips (Poisson episodes)."""
    w = np.zeros(n)
    count = rng.poisson(cfg.flip_rate_hz * n / fps)
    ramp = max(int(0.1 * fps), 1)
    for _ in range(count):
        length = int(rng.uniform(*cfg.flip_duration_s) * fps)
        start = int(rng.integers(0, max(n - length, 1)))
        episode = np.ones(length)
        r = min(ramp, length // 2)
        if r:
            edge = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, r))
            episode[:r], episode[-r:] = edge, edge[::-1]
        stop = min(start + length, n)
        w[start:stop] = np.maximum(w[start:stop], episode[: stop - start])
    return w


def corrupt(
    world: np.ndarray,
    fps: float,
    *,
    clip: str,
    variant: int,
    seed: int,
    cfg: CorruptionConfig,
    pelvis: tuple[int, int],
    groups: list[str],
    limbs: list[list[int]],
    whole_limbs: list | None = None,
    mirror: np.ndarray | None = None,
) -> dict:
    """One corrupted variant of a clip. ``world`` (F, M, 3) metres, Y up.

    ``groups`` names each marker's rigid body (segment-correlated drift); ``limbs`` lists
    marker index sets that may flip front/back, proximal marker chosen automatically;
    ``whole_limbs`` the legs and arms of the fitted model (``monocular.whole_limbs``).
    ``mirror``: each marker's left/right partner (``virtual_camera.mirror_index``), for the
    virtual camera's label swaps. Returns camera-frame ``true`` and ``observed`` (F, M, 3),
    the camera, σ (the depth error's RMS for the fitted model) and flip mask; with
    ``camera: virtual`` also the detector's ``rays`` and its swapped / outliers / dropped masks.
    """
    rng = clip_rng(seed, clip, variant)
    n, m, _ = world.shape
    if cfg.camera == "virtual":
        forward = facing_direction(world[:, pelvis[0]], world[:, pelvis[1]])
        camera = place_phone(world, pelvis, forward, rng, cfg.virtual_camera)
    else:
        camera = place_camera(world, pelvis, rng, cfg)
    true = camera.to_camera(world)
    if cfg.error_model == "fitted" or (cfg.error_model == "mixed" and variant % 2 == 1):
        error = depth_errors(
            true, fps, rng, cfg.monocular, up=camera.rotation @ UP, pelvis=pelvis, limbs=whole_limbs or []
        )["total"]
        estimate = true.copy()
        estimate[:, :, :2] += _image_noise(rng, n, m, fps, cfg)
        estimate[:, :, 2] += error
        noise_mm, flipped = float(np.sqrt(np.mean(error**2)) * 1000), np.zeros(n, bool)
    else:
        estimate, noise_mm, flipped = _synthetic_estimate(true, world, fps, rng, cfg, pelvis, groups, limbs)
    out = {"true": true, "observed": estimate, "camera": camera, "noise_mm": noise_mm, "flipped": flipped}
    if cfg.camera == "virtual":
        mirror = np.arange(m) if mirror is None else mirror
        detected, masks = detected_pixels(project(true, camera.K), mirror, fps, rng, cfg.virtual_camera)
        out["observed"], out["rays"] = capture_on_rays(estimate, detected, camera.K, masks["dropped"])
        out.update(masks)
    return out


def _synthetic_estimate(true, world, fps, rng, cfg: CorruptionConfig, pelvis, groups, limbs):
    """The drift, jitter and flip model (module docstring): (estimate (F, M, 3), σ mm, flip mask)."""
    n, m, _ = true.shape
    sigma_mm = float(rng.uniform(*cfg.noise_mm))
    sigma = sigma_mm / 1000.0
    gain = distal_gains(world, pelvis, *cfg.distal_gain)

    # Front/back flips act on the true depths first: a wrong pose, then noisy.
    depth = true[:, :, 2].copy()
    flipped = np.zeros(n, dtype=bool)
    centre = 0.5 * (world[:, pelvis[0]] + world[:, pelvis[1]])
    for limb in limbs:
        w = _flip_weights(rng, n, fps, cfg)
        if not w.any():
            continue
        limb = np.asarray(limb)
        proximal = limb[np.argmin(np.median(np.linalg.norm(world[:, limb] - centre[:, None], axis=2), axis=0))]
        pivot = true[:, proximal, 2][:, None]
        depth[:, limb] -= 2.0 * w[:, None] * (true[:, limb, 2] - pivot)
        flipped |= w > 0

    unique_groups = sorted(
        set(groups), key=lambda g: (NOISE_ORDER.index(g) if g in NOISE_ORDER else len(NOISE_ORDER), g)
    )
    group_index = np.array([unique_groups.index(g) for g in groups])
    body = _smooth_noise(rng, (n, 1), fps, cfg.drift_cutoff_hz)
    segment = _smooth_noise(rng, (n, len(unique_groups)), fps, cfg.drift_cutoff_hz)[:, group_index]
    own = _smooth_noise(rng, (n, m), fps, cfg.drift_cutoff_hz)
    b, s = cfg.body_correlation, cfg.segment_correlation
    drift = b * body + s * segment + np.sqrt(max(1.0 - b * b - s * s, 0.0)) * own
    jitter = rng.standard_normal((n, m))
    depth_error = sigma * gain * (np.sqrt(cfg.drift_share) * drift + np.sqrt(1.0 - cfg.drift_share) * jitter)

    xy_error = _image_noise(rng, n, m, fps, cfg)
    observed = np.empty_like(true)
    observed[:, :, :2] = true[:, :, :2] + xy_error
    observed[:, :, 2] = depth + depth_error
    return observed, sigma_mm, flipped
