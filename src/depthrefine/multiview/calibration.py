"""Calibrated cameras: one model (OpenCV conventions), readers for Qualisys ``.qca.txt`` and
Pose2Sim/Anipose ``.toml`` calibrations, projection and undistortion.

Convention, written once (docs/multiview.md): a world point X (metres) is seen at camera
coordinates x_c = R X + t (x right, y down, z forward), projected with the intrinsic matrix K
and OpenCV distortion (k1, k2, p1, p2[, k3]). Every foreign format is converted here.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthrefine.errors import DataError

log = logging.getLogger(__name__)

QUALISYS_SUBPIXELS = 64  # Qualisys intrinsics are in sensor units of 1/64 pixel


@dataclass
class Camera:
    name: str
    size: tuple[int, int]  # (width, height) pixels
    K: np.ndarray  # (3, 3)
    dist: np.ndarray  # (4,) or (5,) OpenCV k1 k2 p1 p2 [k3]
    R: np.ndarray  # (3, 3) world → camera
    t: np.ndarray  # (3,) metres
    meta: dict = field(default_factory=dict)

    @property
    def centre(self) -> np.ndarray:
        """Camera centre in world coordinates: −Rᵀ t."""
        return -self.R.T @ self.t

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) → camera coordinates (..., 3)."""
        return X @ self.R.T + self.t

    def project(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) → distorted pixel coordinates (..., 2) (OpenCV's model)."""
        import cv2

        shape = X.shape[:-1]
        flat = np.ascontiguousarray(X.reshape(-1, 3), dtype=np.float64)
        rvec = cv2.Rodrigues(self.R)[0]
        px, _ = cv2.projectPoints(flat, rvec, self.t.astype(np.float64), self.K, self.dist)
        return px.reshape(*shape, 2)

    def undistort(self, px: np.ndarray) -> np.ndarray:
        """Distorted pixels (..., 2) → normalised image coordinates (..., 2) (x/z, y/z)."""
        import cv2

        shape = px.shape[:-1]
        flat = np.ascontiguousarray(px.reshape(-1, 1, 2), dtype=np.float64)
        out = cv2.undistortPoints(flat, self.K, self.dist)
        return out.reshape(*shape, 2)

    def rotated(self, rvec: np.ndarray) -> Camera:
        """The same camera turned by the small rotation ``rvec`` (Rodrigues) about its centre."""
        from scipy.spatial.transform import Rotation

        centre = self.centre
        R = Rotation.from_rotvec(rvec).as_matrix() @ self.R
        return Camera(self.name, self.size, self.K, self.dist, R, -R @ centre, dict(self.meta))


CROP_TOLERANCE = 0.02  # a video this much smaller than its calibration is the same frame, cropped


def fitted_to_video(cam: Camera, size: tuple[int, int], source: str | Path) -> Camera:
    """The camera for a video of ``size`` (width, height) pixels. The calibration's own size:
    as it is. Up to 2 % smaller in each dimension: the same pixel grid with the padding
    columns/rows cut at the right/bottom (an encoder storing 1088 as 1080: Pose2Sim's lab),
    so the intrinsics stay. Scaled by one factor in both dimensions (a video recorded at a
    lower resolution): the intrinsics scale with it. Anything else is an error — normalised
    landmarks are turned into pixels with the video's size, and a wrong size is a pixel
    error that grows across the frame."""
    from dataclasses import replace

    (w, h), (cw, ch) = size, cam.size
    if (w, h) == (cw, ch):
        return cam
    if cw * (1 - CROP_TOLERANCE) <= w <= cw and ch * (1 - CROP_TOLERANCE) <= h <= ch:
        log.warning("%s: camera %s calibrated at %dx%d, video %dx%d: taken as cropped", source, cam.name, cw, ch, w, h)
        return replace(cam, size=(w, h), meta={**cam.meta, "calibrated_size": [cw, ch]})
    sx, sy = w / cw, h / ch
    if abs(sx / sy - 1) <= 0.01:
        log.warning(
            "%s: camera %s calibrated at %dx%d, video %dx%d: intrinsics scaled by %.3f",
            source,
            cam.name,
            cw,
            ch,
            w,
            h,
            sx,
        )
        K = cam.K.copy()
        K[0] *= sx
        K[1] *= sy
        return replace(cam, size=(w, h), K=K, meta={**cam.meta, "calibrated_size": [cw, ch]})
    raise DataError(
        source,
        f"camera {cam.name} is calibrated at {cw}x{ch} pixels but its video is {w}x{h}: "
        "neither a crop of the calibrated frame nor a scaled copy of it",
    )


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def read_qca(path: str | Path) -> list[Camera]:
    """Qualisys calibration export (XML). Converted as Pose2Sim converts it: intrinsics and
    distortion divided by 64, principal point relative to the video field of view; the
    transform gives the rotation r (rows: the camera axes in world coordinates) and the
    centre in mm, so R = r, t = −r·C; then a rotation of π about the camera's x axis turns
    Qualisys camera axes (y up, looking along −z) into OpenCV's."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DataError(path, f"not a readable Qualisys calibration: {exc}") from None
    cameras = []
    for cam in root.findall("cameras/camera"):
        name = cam.get("serial") or f"cam{len(cameras) + 1:02d}"
        fov, tr, intr = cam.find("fov_video"), cam.find("transform"), cam.find("intrinsic")
        if fov is None or tr is None or intr is None:
            raise DataError(path, f"camera {name}: needs <fov_video>, <transform> and <intrinsic>")
        try:
            left, top = float(fov.get("left")), float(fov.get("top"))
            size = (int(float(fov.get("right")) - left + 1), int(float(fov.get("bottom")) - top + 1))
            f = {k: float(intr.get(k)) for k in ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV")}
            dist = np.array(
                [float(intr.get(k)) for k in ("radialDistortion1", "radialDistortion2")]
                + [float(intr.get(k)) for k in ("tangentalDistortion1", "tangentalDistortion2")]
            )
            r = np.array([[float(tr.get(f"r{i}{j}")) for j in (1, 2, 3)] for i in (1, 2, 3)])
            centre = np.array([float(tr.get(k)) for k in ("x", "y", "z")]) / 1000.0
        except (TypeError, ValueError) as exc:
            raise DataError(path, f"camera {name}: missing or non-numeric value ({exc})") from None
        q = QUALISYS_SUBPIXELS
        K = np.array(
            [
                [f["focalLengthU"] / q, 0.0, f["centerPointU"] / q - left],
                [0.0, f["focalLengthV"] / q, f["centerPointV"] / q - top],
                [0.0, 0.0, 1.0],
            ]
        )
        flip = _rot_x(np.pi)
        R = flip @ r
        cameras.append(Camera(name, size, K, dist / q, R, -R @ centre, {"format": "qualisys"}))
    if not cameras:
        raise DataError(path, "no <camera> in <cameras>")
    return cameras


def read_toml(path: str | Path) -> list[Camera]:
    """Pose2Sim / Anipose calibration: one table per camera with name, size, matrix,
    distortions, rotation (Rodrigues vector, world → camera) and translation (metres)."""
    import tomllib

    import cv2

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not a readable TOML calibration: {exc}") from None
    cameras = []
    for key, cam in data.items():
        if not isinstance(cam, dict) or key == "metadata":
            continue
        missing = [k for k in ("size", "matrix", "distortions", "rotation", "translation") if k not in cam]
        if missing:
            raise DataError(path, f"[{key}]: missing {missing}")
        R = cv2.Rodrigues(np.asarray(cam["rotation"], dtype=np.float64))[0]
        cameras.append(
            Camera(
                str(cam.get("name", key)),
                (int(cam["size"][0]), int(cam["size"][1])),
                np.asarray(cam["matrix"], dtype=np.float64).reshape(3, 3),
                np.asarray(cam["distortions"], dtype=np.float64),
                R,
                np.asarray(cam["translation"], dtype=np.float64),
                {"format": "toml"},
            )
        )
    if not cameras:
        raise DataError(path, "no camera tables")
    return cameras


def write_toml(cameras: list[Camera], path: str | Path) -> None:
    """The cameras in the Pose2Sim / Anipose TOML layout (readable by ``read_toml``)."""
    import cv2

    from depthrefine.io import atomic_write_text

    def arr(a) -> str:
        return "[" + ", ".join(arr(x) if np.ndim(x) else repr(float(x)) for x in a) + "]"

    lines = []
    for cam in cameras:
        rvec = cv2.Rodrigues(cam.R)[0].ravel()
        lines += [
            f"[{cam.name}]",
            f'name = "{cam.name}"',
            f"size = [{cam.size[0]}, {cam.size[1]}]",
            f"matrix = {arr(cam.K)}",
            f"distortions = {arr(cam.dist)}",
            f"rotation = {arr(rvec)}",
            f"translation = {arr(cam.t)}",
            "fisheye = false",
            "",
        ]
    atomic_write_text(path, "\n".join(lines))


def read_calibration(path: str | Path) -> list[Camera]:
    """A calibration file by its name: ``*.qca.txt`` (Qualisys) or ``*.toml``."""
    name = Path(path).name.lower()
    if name.endswith(".qca.txt"):
        return read_qca(path)
    if name.endswith(".toml"):
        return read_toml(path)
    raise DataError(path, "expected a calibration file ending in .qca.txt or .toml")
