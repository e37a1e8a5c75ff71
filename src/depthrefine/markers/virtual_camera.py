"""A phone or webcam filming the mocap subject, and what its 2D pose detector gets wrong
(issue 11, step 3: training through virtual cameras).

The camera stands on the floor's level plus a height (tripod at hip height … handheld at eye
level), anywhere round the subject (yaw from its facing direction, all round), 2–8 m away
horizontally, looking at the clip's mean pelvis with a small extra pitch and roll; square
pixels, the principal point at the image centre, a focal length between a webcam's and a
phone's (in units of the image's long side), portrait or landscape.

The detector's errors on the projected markers: Gaussian pixel noise, outliers (a
marker-frame thrown tens of pixels off), dropped points (no ray) and episodes in which the
whole body's left and right labels are swapped (BlazePose does this for tens of frames).

The capture then goes the way a video's does (capture/rays.py): the monocular 3D estimate is
put on the noisy rays by the root translation that fits them, so training sees what inference
sees. Camera frame: x right, y down, z forward (OpenCV).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthrefine.capture.bonefit import side_free
from depthrefine.capture.rays import on_rays, pixels_to_rays
from depthrefine.settings import checked_fields


@dataclass(frozen=True)
class VirtualCameraConfig:
    """The config's ``corruption.virtual_camera`` section."""

    distance_m: tuple[float, float]
    height_m: tuple[float, float]
    pitch_deg: tuple[float, float]
    roll_deg: tuple[float, float]
    focal_long_side: tuple[float, float]
    long_side_px: int
    portrait_share: float
    pixel_noise_px: float
    outlier_rate: float
    outlier_px: tuple[float, float]
    drop_rate: float
    swap_rate_hz: float
    swap_duration_s: tuple[float, float]

    @classmethod
    def from_dict(cls, d: dict) -> VirtualCameraConfig:
        kw = checked_fields(cls, d, "corruption.virtual_camera")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})


@dataclass(frozen=True)
class PhoneCamera:
    rotation: np.ndarray  # (3, 3) world → camera rows: x right, y down, z forward
    position_m: np.ndarray  # (3,) world
    K: np.ndarray  # (3, 3) intrinsics, pixels
    width: int
    height: int
    azimuth_deg: float  # yaw from the subject's facing direction
    elevation_deg: float  # pitch: the optical axis below the horizontal
    distance_m: float  # horizontal, to the clip's mean pelvis

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        return (world - self.position_m) @ self.rotation.T


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def place_phone(
    world: np.ndarray, pelvis: tuple[int, int], forward: np.ndarray, rng: np.random.Generator, cfg: VirtualCameraConfig
) -> PhoneCamera:
    """A camera for the clip ``world`` (F, M, 3), Y up, floor at the lowest marker; ``forward``
    the subject's mean horizontal facing direction (unit)."""
    up = np.array([0.0, 1.0, 0.0])
    centre = 0.5 * (world[:, pelvis[0]] + world[:, pelvis[1]]).mean(axis=0)
    floor = float(np.nanmin(world[..., 1]))
    yaw = rng.uniform(-180.0, 180.0)
    direction = _rotation_about(up, np.deg2rad(yaw)) @ forward
    horizontal = world[:, :, [0, 2]].reshape(-1, 2) - centre[[0, 2]]
    distance = max(rng.uniform(*cfg.distance_m), float(np.linalg.norm(horizontal, axis=1).max()) + 1.0)
    position = centre + distance * direction
    position[1] = floor + rng.uniform(*cfg.height_m)
    look = centre - position
    look /= np.linalg.norm(look)
    right = np.cross(look, up)
    right /= np.linalg.norm(right)
    pitch_extra, roll = np.deg2rad(rng.uniform(*cfg.pitch_deg)), np.deg2rad(rng.uniform(*cfg.roll_deg))
    look = _rotation_about(right, -pitch_extra) @ look  # positive extra pitch: looking further down
    down = np.cross(look, right)
    rotation = np.stack([right, down, look])
    rotation = _rotation_about(np.array([0.0, 0.0, 1.0]), roll) @ rotation  # roll about the optical axis
    portrait = rng.random() < cfg.portrait_share
    long_side, short_side = cfg.long_side_px, int(round(cfg.long_side_px * 9 / 16))
    width, height = (short_side, long_side) if portrait else (long_side, short_side)
    f = rng.uniform(*cfg.focal_long_side) * long_side
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    pitch = float(np.rad2deg(np.arcsin(np.clip(-look @ up, -1, 1))))
    return PhoneCamera(rotation, position, K, width, height, float(yaw), pitch, float(distance))


def swap_mask(rng: np.random.Generator, n: int, fps: float, cfg: VirtualCameraConfig) -> np.ndarray:
    """(n,) frames whose left and right labels are swapped (Poisson episodes)."""
    mask = np.zeros(n, dtype=bool)
    for _ in range(rng.poisson(cfg.swap_rate_hz * n / fps)):
        length = max(int(rng.uniform(*cfg.swap_duration_s) * fps), 1)
        start = int(rng.integers(0, max(n - length, 1)))
        mask[start : start + length] = True
    return mask


def detected_pixels(
    pixels: np.ndarray, mirror: np.ndarray, fps: float, rng: np.random.Generator, cfg: VirtualCameraConfig
) -> tuple[np.ndarray, dict]:
    """The 2D detector's output (F, M, 2) for the true projections ``pixels``: noise, outliers,
    dropped points (NaN) and left/right swaps (``mirror``: each marker's left/right partner
    index, itself on the midline). Returns it and the masks of what was done."""
    n, m, _ = pixels.shape
    out = pixels + cfg.pixel_noise_px * rng.standard_normal(pixels.shape)
    swapped = swap_mask(rng, n, fps, cfg)
    out[swapped] = out[swapped][:, mirror]
    outliers = rng.random((n, m)) < cfg.outlier_rate
    angle = rng.uniform(0.0, 2 * np.pi, (n, m))
    reach = rng.uniform(*cfg.outlier_px, (n, m))
    out[outliers] += (reach[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1))[outliers]
    dropped = rng.random((n, m)) < cfg.drop_rate
    out[dropped] = np.nan
    return out, {"swapped": swapped, "outliers": outliers, "dropped": dropped}


def mirror_index(names: list[str]) -> np.ndarray:
    """Each marker's left/right partner by name ('LKnee' ↔ 'RKnee', 'L_x' ↔ 'r_x' alike);
    a marker without one (midline) maps to itself."""
    where = {n: i for i, n in enumerate(names)}
    out = np.arange(len(names))
    for i, n in enumerate(names):
        if side_free(n) != n:
            for candidate in (c + n[1:] for c in ("Ll" if n[0] in "Rr" else "Rr")):
                if candidate in where and candidate != n:
                    out[i] = where[candidate]
                    break
    return out


def capture_on_rays(
    estimate: np.ndarray, detected: np.ndarray, K: np.ndarray, dropped: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The monocular 3D estimate (F, M, 3, camera frame) placed on the detector's rays as a
    video's capture is (capture/rays.py); dropped points weigh 0 and keep the estimate's own
    place. Returns the markers and the rays (F, M, 2, NaN where dropped)."""
    rays = pixels_to_rays(detected, K)
    relative = estimate - estimate.mean(axis=1, keepdims=True)
    return on_rays(relative, rays, (~dropped).astype(float)), rays
