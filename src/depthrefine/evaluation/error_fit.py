"""The monocular error model (markers/monocular.py) fitted to real residuals: raw BlazePose
against the multi-camera reference, both in the pair's camera frame (docs/model.md, "The
fitted error model").

Each pair's depth residual is taken apart in the model's order, every step on what the
previous ones left:
1. lag: the shift (−8 … 8 frames) that best correlates the raw's depth changes with the reference's;
2. whole-body rotation: per frame, the angle about the vertical (the reference's trunk axis)
   that takes the reference's trunk markers onto the raw ones (closed form); beyond ±90° the
   raw trunk faces the other way (a left/right swap, counted and left out);
3. body depth scale: the least-squares factor of the hip-relative depth (median and log sd);
4. per limb: a front/back offset per frame growing from the root to the end (least squares);
5. what is left, per marker: white jitter (from its second differences) and correlated noise.
Amplitudes are root mean squares over the pairs (a per-clip angle's sign depends on where the
camera is). The per-frame fits of steps 2 and 4 also absorb detection noise, and clips of
0.6–1.3 s cannot show time scales of their own; so the within-clip parts' common keyframe
interval, the white share of the marker noise and a level factor on the within-clip
amplitudes are then chosen by simulation: the model drawn on the fitting pairs' reference
motion, matched to the real residuals' spectrum, depth error and jitter (``match_spectrum``).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from depthrefine.markers.monocular import (
    MonocularErrors,
    delayed,
    depth_errors,
    limb_roots,
    rotate_about,
)

log = logging.getLogger(__name__)

MAX_LAG_FRAMES = 8
SIMULATIONS = 20  # synthetic draws per pair for the comparison
# The within-clip parts' common keyframe interval, the white share of the marker noise and a
# level on the within-clip amplitudes are chosen on this grid (``match_spectrum``).
INTERVAL_GRID_S = (0.04, 0.06, 0.09, 0.13, 0.2, 0.35)
WHITE_SHARE_GRID = (0.35, 0.5, 0.7, 0.85)
LEVEL_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MATCH_DRAWS = 12


def trunk_up(ref: np.ndarray, hips: tuple[int, int], shoulders: tuple[int, int]) -> np.ndarray:
    """The vertical in camera axes: the median of the reference's hip-centre → shoulder-centre
    direction (upright subjects)."""
    axis = 0.5 * (ref[:, shoulders[0]] + ref[:, shoulders[1]]) - 0.5 * (ref[:, hips[0]] + ref[:, hips[1]])
    axis = axis[np.isfinite(axis).all(axis=1)]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    up = np.median(axis, axis=0)
    return up / np.linalg.norm(up)


def best_lag(raw_z: np.ndarray, ref_z: np.ndarray) -> int:
    """Frames by which the raw depth trails the reference (positive = raw late): the shift with
    the highest correlation of the two's frame-to-frame depth changes, pooled over markers
    (timing only, so a wrong depth scale or offset does not move it)."""
    a, b = np.diff(raw_z, axis=0), np.diff(ref_z, axis=0)
    n = len(a)
    best, best_corr = 0, -np.inf
    for k in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        x, y = (a[k:], b[: n - k]) if k >= 0 else (a[: n + k], b[-k:])
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 0.5 * np.isfinite(a - b).sum():
            continue
        corr = float(np.corrcoef(x[ok], y[ok])[0, 1])
        if corr > best_corr:
            best, best_corr = k, corr
    return best


def frame_yaw(rel_ref: np.ndarray, rel_raw: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(F,) radians: per frame the rotation about ``up`` that best takes the reference's
    hip-relative markers onto the raw ones (least squares in the plane across ``up``, closed
    form; NaN where fewer than 3 markers are in both)."""
    ok = np.isfinite(rel_ref).all(axis=2) & np.isfinite(rel_raw).all(axis=2)
    a = np.where(ok[..., None], rel_ref, 0.0)
    b = np.where(ok[..., None], rel_raw, 0.0)
    a = a - (a @ up)[..., None] * up
    b = b - (b @ up)[..., None] * up
    sin = np.einsum("fmi,i->f", np.cross(a, b), up)
    cos = np.einsum("fmi,fmi->f", a, b)
    return np.where(ok.sum(axis=1) >= 3, np.arctan2(sin, cos), np.nan)


def limb_offsets(d: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """One limb: d (F, K) residual depth of its members relative to the root, weight (K,) →
    the offset at the limb's end per frame (F,), least squares of d = weight·offset."""
    w = np.where(np.isfinite(d), weight, 0.0)
    den = (w * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (w * np.nan_to_num(d)).sum(axis=1) / den, np.nan)


def white_and_correlated(x: np.ndarray) -> tuple[float, float]:
    """(white sd, correlated sd) of x (F, C), columns centred: white noise from the second
    differences (var(Δ²) = 6σ² for white noise, ≈ 0 for a slow process), the rest correlated."""
    second = np.diff(x, n=2, axis=0)
    white_var = float(np.nanmean(second**2) / 6.0) if np.isfinite(second).any() else 0.0
    total = float(np.nanmean(np.nanvar(x, axis=0)))
    return float(np.sqrt(white_var)), float(np.sqrt(max(total - white_var, 0.0)))


def decompose_pair(raw: np.ndarray, ref: np.ndarray, fps: float, *, names: list[str], pelvis, limbs) -> dict:
    """One pair's residual taken apart (module docstring). raw, ref (F, M, 3) camera frame;
    ``pelvis`` (left, right hip index); ``limbs`` ``monocular.whole_limbs``."""
    shoulders = (names.index("LShoulder"), names.index("RShoulder"))
    up = trunk_up(ref, pelvis, shoulders)
    rel_ref = ref - 0.5 * (ref[:, pelvis[0]] + ref[:, pelvis[1]])[:, None]
    rel_raw = raw - 0.5 * (raw[:, pelvis[0]] + raw[:, pelvis[1]])[:, None]
    lag = best_lag(rel_raw[..., 2], rel_ref[..., 2])
    raw_z = delayed(rel_raw[..., 2], fps, -lag / fps)  # the raw at t + lag against the reference at t
    # The whole body's rotation from the trunk (the limbs' roots and what no limb carries):
    # the limbs have depth errors of their own.
    roots = limb_roots(ref, pelvis, limbs)
    in_limb = {i for members, _ in limbs for i in members} - {r for r, _ in roots}
    trunk = [i for i in range(len(names)) if i not in in_limb]
    rel_raw = np.concatenate([rel_raw[..., :2], raw_z[..., None]], axis=-1)
    theta = frame_yaw(rel_ref[:, trunk], rel_raw[:, trunk], up)
    # Beyond ±90° the raw trunk faces the other way: BlazePose swapped left and right (a 2D
    # error for the virtual camera), not a rotation; those frames are counted and left out.
    swapped = np.abs(theta) > np.pi / 2
    theta[swapped] = np.nan
    yawed = rotate_about(np.nan_to_num(rel_ref), up, np.nan_to_num(theta))
    yawed[~np.isfinite(rel_ref) | ~np.isfinite(theta)[:, None, None]] = np.nan
    ok = np.isfinite(yawed[..., 2]) & np.isfinite(raw_z)
    body_scale = float(np.sum(raw_z[ok] * yawed[..., 2][ok]) / np.sum(yawed[..., 2][ok] ** 2))
    model = body_scale * yawed[..., 2]
    residual = raw_z - model
    limb_out = []
    for (root, weight), (members, _) in zip(roots, limbs):
        members = np.asarray(members)
        offset = limb_offsets(residual[:, members] - residual[:, root : root + 1], weight)
        limb_out.append({"root": names[root], "offset": offset})
        residual[:, members] -= np.nan_to_num(offset)[:, None] * weight
    jitter, correlated = white_and_correlated(residual)
    return {
        "frames": int(len(raw)),
        "up": up.tolist(),
        "lag_frames": int(lag),
        "yaw_deg": np.rad2deg(theta),
        "swapped_fraction": float(swapped.mean()),
        "body_scale": body_scale,
        "limbs": limb_out,
        "jitter_m": jitter,
        "marker_noise_m": correlated,
        "residual": residual,
    }


def _filled(xyz: np.ndarray) -> np.ndarray:
    """NaN gaps of the reference filled by linear interpolation in time (edges held), so the
    model can be drawn on it; the comparison masks them again."""
    out = xyz.copy()
    t = np.arange(len(xyz))
    for j in range(xyz.shape[1]):
        for k in range(3):
            ok = np.isfinite(xyz[:, j, k])
            out[:, j, k] = np.interp(t, t[ok], xyz[ok, j, k]) if ok.any() else 0.0
    return out


def hip_relative_depth(xyz_or_z: np.ndarray, pelvis) -> np.ndarray:
    z = xyz_or_z[..., 2] if xyz_or_z.ndim == 3 else xyz_or_z
    return z - 0.5 * (z[:, pelvis[0]] + z[:, pelvis[1]])[:, None]


def synthetic_residuals(ref, fps, params: MonocularErrors, *, pelvis, limbs, names, seed: int, draws: int):
    """(draws, F, M) hip-relative depth residuals of the model drawn on a pair's reference
    (camera frame), NaN where the reference is."""
    true = _filled(ref)
    up = trunk_up(ref, pelvis, (names.index("LShoulder"), names.index("RShoulder")))
    mask = np.isfinite(ref[..., 2]) & np.isfinite(ref[:, pelvis, 2]).all(axis=1)[:, None]
    synthetic = []
    for s in range(draws):
        rng = np.random.default_rng([seed, s])
        err = depth_errors(true, fps, rng, params, up=up, pelvis=pelvis, limbs=limbs)["total"]
        res = hip_relative_depth(true[..., 2] + err, pelvis) - hip_relative_depth(true, pelvis)
        synthetic.append(np.where(mask, res, np.nan))
    return np.array(synthetic)


def pair_residuals(raw, ref, fps, params: MonocularErrors, *, pelvis, limbs, names, seed: int) -> dict:
    """Real (F, M) and synthetic (SIMULATIONS, F, M) hip-relative depth residuals of one pair."""
    real = hip_relative_depth(raw, pelvis) - hip_relative_depth(ref, pelvis)
    synthetic = synthetic_residuals(ref, fps, params, pelvis=pelvis, limbs=limbs, names=names, seed=seed,
                                    draws=SIMULATIONS)  # fmt: skip
    return {"real": real, "synthetic": np.where(np.isfinite(real), synthetic, np.nan)}


def spectrum(residuals, fps: float, segment: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, mean PSD m²/Hz) over every marker series of residuals, each (F, M) or
    a stack (S, F, M) (Welch, ``segment``-frame pieces). A series with up to 20 % gaps is filled
    linearly (the reference drops points); one with more is left out."""
    from scipy.signal import welch

    cols = []
    for res in residuals:
        for r in res if res.ndim == 3 else res[None]:
            for j in range(r.shape[1]):
                ok = np.isfinite(r[:, j])
                if len(r) >= segment and ok.mean() >= 0.8:
                    t = np.arange(len(r))
                    cols.append(np.interp(t, t[ok], r[ok, j]))
    if not cols:
        return np.zeros(0), np.zeros(0)
    psd = [welch(c, fs=fps, nperseg=segment)[1] for c in cols]
    return np.fft.rfftfreq(segment, 1.0 / fps), np.mean(psd, axis=0)


def _rms(values) -> float:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    return float(np.sqrt(np.mean(v * v))) if v.size else float("nan")


def _within_clip_sd(series: list[np.ndarray]) -> float:
    """RMS over the series (F, C) of their sd about their own clip mean."""
    return _rms([float(np.sqrt(np.nanmean(np.nanvar(x, axis=0)))) for x in series])


def _mean_abs(arrays, second: bool = False) -> float:
    vals = np.concatenate([(np.diff(a, n=2, axis=-2) if second else a).ravel() for a in arrays])
    return float(np.nanmean(np.abs(vals)))


def _score(real: list[np.ndarray], synthetic: list[np.ndarray], fps: float) -> float:
    """Mismatch of pooled synthetic vs real residuals: mean squared log10 spectrum difference,
    plus 4 × the squared log ratios of their depth error (mean |residual|) and jitter (mean
    |second difference|), the real-validation table's two depth metrics."""
    _, p_real = spectrum(real, fps)
    _, p_syn = spectrum(synthetic, fps)
    depth = np.log(_mean_abs(synthetic) / _mean_abs(real))
    jitter = np.log(_mean_abs(synthetic, True) / _mean_abs(real, True))
    return float(np.mean((np.log10(p_syn) - np.log10(p_real)) ** 2) + 4 * depth**2 + 4 * jitter**2)


def match_spectrum(base: MonocularErrors, pairs, fps: float, *, pelvis, limbs, names, seed: int) -> tuple:
    """The within-clip parts' keyframe interval (one for all), the white share of the marker
    noise and a level factor on the within-clip amplitudes, by grid search: the model drawn
    on each fitting pair's reference against that pair's real residual. Returns the
    parameters and the grid's scores."""
    real = [hip_relative_depth(raw, pelvis) - hip_relative_depth(ref, pelvis) for raw, ref in pairs]
    refs = [ref for _, ref in pairs]
    noise = float(np.hypot(base.marker_noise_m, base.jitter_m))
    scores = {}
    for interval in INTERVAL_GRID_S:
        for white in WHITE_SHARE_GRID:
            for level in LEVEL_GRID:
                p = replace(
                    base,
                    yaw_wobble_deg=level * base.yaw_wobble_deg,
                    yaw_interval_s=interval,
                    limb_wobble_m=level * base.limb_wobble_m,
                    limb_interval_s=interval,
                    marker_noise_m=level * noise * np.sqrt(1.0 - white),
                    marker_interval_s=interval,
                    jitter_m=level * noise * np.sqrt(white),
                )
                syn = [
                    np.where(np.isfinite(r), synthetic_residuals(ref, fps, p, pelvis=pelvis, limbs=limbs, names=names,
                                                                 seed=seed, draws=MATCH_DRAWS), np.nan)
                    for r, ref in zip(real, refs)
                ]  # fmt: skip
                scores[(interval, white, level)] = (_score(real, syn, fps), p)
    best = min(scores, key=lambda k: scores[k][0])
    return scores[best][1], {k: v[0] for k, v in scores.items()}


def fit_parameters(parts: list[dict], fps: float, pairs, *, pelvis, limbs, names, seed: int):
    """The model's parameters from the decomposed pairs and their (raw, reference) arrays:
    amplitudes from the decomposition, the temporal structure by ``match_spectrum``. Returns
    (parameters, notes on what could not be measured, the spectrum match's grid scores)."""
    notes: list[str] = []
    lags = np.array([p["lag_frames"] for p in parts])
    lag = float(np.median(lags))
    if lag != 0 and np.mean(np.sign(lags) == np.sign(lag)) < 0.75:
        notes.append(f"lag: the pairs disagree ({lags.tolist()} frames); kept 0")
        lag = 0.0
    elif lag < 0:
        notes.append(
            f"lag: the raw leads the reference ({lags.tolist()} frames), which a causal estimator cannot; kept 0"
        )
        lag = 0.0
    yaw = [p["yaw_deg"][:, None] for p in parts]
    log_scale = np.log([p["body_scale"] for p in parts if p["body_scale"] > 0])
    offsets = [limb["offset"][:, None] for p in parts for limb in p["limbs"] if np.isfinite(limb["offset"]).any()]
    base = MonocularErrors(
        lag_s=lag / fps,
        yaw_clip_deg=_rms([np.nanmedian(y) for y in yaw]),
        yaw_wobble_deg=_within_clip_sd(yaw),
        yaw_interval_s=INTERVAL_GRID_S[0],
        body_depth_median=float(np.exp(np.median(log_scale))),
        body_depth_scale=_rms(log_scale - np.median(log_scale)),
        limb_offset_m=_rms([np.nanmean(o) for o in offsets]),
        limb_wobble_m=_within_clip_sd(offsets),
        limb_interval_s=INTERVAL_GRID_S[0],
        marker_noise_m=_rms([p["marker_noise_m"] for p in parts]),
        marker_interval_s=INTERVAL_GRID_S[0],
        jitter_m=_rms([p["jitter_m"] for p in parts]),
    )
    params, scores = match_spectrum(base, pairs, fps, pelvis=pelvis, limbs=limbs, names=names, seed=seed)
    return params, notes, scores
