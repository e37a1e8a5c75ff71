"""Per-subject bone lengths: one robust least-squares fit over the clip (issue 11, step 4).

Unknowns: every marker's depth along its camera ray in every frame and one length per bone
for the whole clip, the left and right bone of a pair sharing it. Residuals, each in units of
its physical scale:
- bone: |P_i − P_j| − L_bone, σ = 5 mm (skin and landmark placement; a bone does not stretch)
  combined with what the 2D detector's error does to the length: each end may lie σ_lateral
  (2 cm) off its ray, which changes the length by σ_lateral times the share of the bone
  across that ray (errors in variables; fixed from the prior's geometry). Without it a bone
  seen across the image whose detected 2D length is a little short must take the difference
  in depth — sqrt(L² − l²) is 12 cm for a 40 cm thigh 2 cm short — and the fit did (depth
  error 104.8 vs the refiner's own 98.2 mm on the lab pairs; 97.8 mm with it);
- prior: z − z_prior, σ = 80 mm (the monocular depth error measured on real video, raw vs the
  4-camera reference: 80–135 mm per pair);
- smoothness: the second difference of z, σ = 4 mm per frame² at 60 fps (≈ 14 m/s², a limb's
  peak acceleration in gait), scaled to the clip's rate.
- height (optional): the stature the lengths imply (angles.scaling's heel → shoulder chain over
  0.818) − the subject's stated height, σ = 2 cm; the prior is first scaled along its rays to
  that size (the monocular scale ambiguity).
A soft-L1 loss (on every residual) keeps a wrong frame from pulling the whole clip; keeping
the bone residuals quadratic instead forced wrong depths (117 mm on the real pairs, 103 robust).
The bone lengths start at the prior's per-bone median and are free: the clip's own lengths,
not a table's.
A Levenberg–Marquardt with sparse direct solves minimises it (see ``_levenberg_marquardt``).
Then, frame by frame, every marker moves across its ray (σ_lateral) so that the bones take
the fitted lengths (``across_rays``): the markers reproject within the 2D detector's error
instead of exactly, and the bones are constant (bone CV 4.0 → 0.8 % on the lab pairs).
σ_lateral = 0 keeps every marker on its ray (the fit as first written).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

SIGMA_BONE_M = 0.005
SIGMA_PRIOR_M = 0.08
SIGMA_ACC_M_AT_60 = 0.004  # second difference per frame² at 60 fps
SIGMA_HEIGHT_M = 0.02  # a stated stature
# The 2D detector's error at the person: BlazePose's view-to-view reprojection error on the
# 4-camera lab session is 10–14 px median per camera, 2 cm at the people's 3–4 m (docs/multiview.md).
SIGMA_LATERAL_M = 0.02
ACROSS_RAYS_STEPS = 8  # Gauss–Newton steps of the per-frame move across the rays (converged in 4–5)
# Run to convergence: stopping scipy's solver at 60 evaluations (as first written) gave
# better-looking but unconverged numbers on the shared pairs (depth 100.3 vs 103.2 mm).
MAX_ITERATIONS = 100
TOLERANCE = 1e-4  # stop when a step lowers the cost by less than this share
PRIOR_OUTLIER = 3.0  # residuals beyond 3 σ count linearly (soft L1)


def side_free(name: str) -> str:
    """'LKnee' / 'RKnee' → 'Knee' (and 'L.ASIS' style names alike), so left and right bones pair up."""
    return name[1:] if len(name) > 1 and name[0] in "LRlr" and not name[1].islower() else name


def fitted_bones(segments, names: list[str]) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """(S, 2) marker indices of the constrained pairs, the length each uses, and the lengths'
    names: the marker set's rigid segments plus hip and shoulder widths and the trunk sides."""
    idx = {n: i for i, n in enumerate(names)}
    pairs = [tuple(p) for p in segments]
    for extra in (("LHip", "RHip"), ("LShoulder", "RShoulder"), ("LShoulder", "LHip"), ("RShoulder", "RHip")):
        if set(extra) <= set(idx) and extra not in pairs:
            pairs.append(extra)
    keys, which = [], []
    for a, b in pairs:
        key = tuple(sorted((side_free(a), side_free(b))))
        if key[0] == key[1]:  # a width (LHip–RHip): its own length
            key = tuple(sorted((a, b)))
        if key not in keys:
            keys.append(key)
        which.append(keys.index(key))
    return np.array([[idx[a], idx[b]] for a, b in pairs]), which, keys


def height_coefficients(keys: list[tuple[str, str]]) -> np.ndarray:
    """c with c · lengths = the stature the lengths imply: the heel → shoulder chain
    (angles.scaling.HEIGHT_CHAIN, one length per left/right pair) over Winter's shoulder share."""
    from depthrefine.angles.scaling import HEIGHT_CHAIN, SHOULDER_HEIGHT_SHARE

    chain = [tuple(sorted(link)) for link in HEIGHT_CHAIN]
    missing = [f"{a}–{b}" for a, b in chain if (a, b) not in keys]
    if missing:
        raise ValueError(f"a subject's height needs the bone lengths {missing}; the marker set's are {keys}")
    return np.array([1.0 / SHOULDER_HEIGHT_SHARE if k in chain else 0.0 for k in keys])


def bone_fit(
    prior: np.ndarray,
    rays: np.ndarray,
    segments,
    names: list[str],
    fps: float,
    height_m: float | None = None,
    sigma_lateral_m: float = SIGMA_LATERAL_M,
) -> tuple[np.ndarray, dict]:
    """Markers (F, M, 3) near their rays with constant bone lengths, from ``prior`` (F, M, 3,
    camera frame: its depth is the starting point and the prior) and ``rays`` (F, M, 2);
    ``height_m``: the subject's stature, when known (the lengths then imply it);
    ``sigma_lateral_m``: how far off its ray the 2D detector may put a marker (0: on the rays).
    Returns the fitted markers and {length name: metres}."""
    frames, markers = prior.shape[:2]
    if frames < 3 or not np.isfinite(rays).all() or not np.isfinite(prior).all():
        raise ValueError("the bone fit needs ≥ 3 frames and every marker's ray and prior in every frame")
    pairs, which, keys = fitted_bones(segments, names)
    which_arr = np.asarray(which)
    dirs = np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], axis=-1)
    z0 = prior[..., 2]
    start = np.linalg.norm(prior[:, pairs[:, 0]] - prior[:, pairs[:, 1]], axis=-1)
    lengths0 = np.array([np.median(start[:, which_arr == k]) for k in range(len(keys))])
    height = None
    if height_m is not None:
        c = height_coefficients(keys)
        height = (c, float(height_m))
        # One camera cannot tell a big body far away from a small one near: every point moved
        # along its ray by one factor scales every length by it. So first scale the prior to
        # the stated size (the per-marker prior, σ 80 mm, would outvote one height residual).
        scale = height_m / float(c @ lengths0)
        z0, lengths0 = z0 * scale, lengths0 * scale
    sigma_acc = SIGMA_ACC_M_AT_60 * (60.0 / fps) ** 2
    sigma_bone = bone_sigmas(z0[..., None] * dirs, dirs, pairs, sigma_lateral_m)
    z, lengths, iterations, converged = _levenberg_marquardt(
        z0, lengths0, dirs, pairs, which_arr, sigma_acc, sigma_bone, height
    )
    if not converged:
        log.warning("bone fit: not converged after %d iterations", iterations)
    points = z[..., None] * dirs
    if sigma_lateral_m > 0:
        points = across_rays(points, dirs, pairs, lengths[which_arr], sigma_lateral_m)
    log.info("bone fit: %d frames, %d lengths, %d iterations", frames, len(keys), iterations)
    return points, {"–".join(k): float(v) for k, v in zip(keys, lengths)}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def bone_sigmas(points: np.ndarray, dirs: np.ndarray, pairs: np.ndarray, sigma_lateral_m: float) -> np.ndarray:
    """(F, S) σ of each bone residual: SIGMA_BONE_M and, in quadrature, the length change of
    each end moving σ_lateral across its ray (the bone's share across that ray)."""
    along = _unit(points[:, pairs[:, 0]] - points[:, pairs[:, 1]])
    rays = _unit(dirs)
    across = sum(1.0 - (along * rays[:, pairs[:, k]]).sum(-1) ** 2 for k in (0, 1))
    return np.sqrt(SIGMA_BONE_M**2 + sigma_lateral_m**2 * across)


def across_rays(
    points: np.ndarray, dirs: np.ndarray, pairs: np.ndarray, lengths: np.ndarray, sigma_lateral_m: float
) -> np.ndarray:
    """Per frame, the markers (F, M, 3) moved across their rays — two unknowns each, σ_lateral
    — so that each bone (S pairs) takes its length (S,) within SIGMA_BONE_M: batched Gauss–Newton
    on a small dense problem per frame (frames are independent; the depth fit stays)."""
    frames, markers, _ = points.shape
    rays = _unit(dirs)
    e1 = _unit(np.array([1.0, 0.0, 0.0]) - rays[..., :1] * rays)  # across the ray: image x …
    e2 = np.cross(rays, e1)  # … and image y
    basis = np.stack([e1, e2], axis=-2)  # (F, M, 2, 3)
    offsets = np.zeros((frames, markers, 2))
    rows = np.arange(len(pairs))
    for _ in range(ACROSS_RAYS_STEPS):
        moved = points + np.einsum("fmk,fmkc->fmc", offsets, basis)
        diff = moved[:, pairs[:, 0]] - moved[:, pairs[:, 1]]
        length = np.linalg.norm(diff, axis=-1)
        r = (length - lengths[None]) / SIGMA_BONE_M  # (F, S)
        unit = diff / np.maximum(length, 1e-12)[..., None]
        J = np.zeros((frames, len(pairs), markers, 2))
        J[:, rows, pairs[:, 0]] += np.einsum("fsc,fskc->fsk", unit, basis[:, pairs[:, 0]]) / SIGMA_BONE_M
        J[:, rows, pairs[:, 1]] -= np.einsum("fsc,fskc->fsk", unit, basis[:, pairs[:, 1]]) / SIGMA_BONE_M
        J = J.reshape(frames, len(pairs), 2 * markers)
        H = np.einsum("fsi,fsj->fij", J, J) + np.eye(2 * markers) / sigma_lateral_m**2
        g = np.einsum("fsi,fs->fi", J, r) + offsets.reshape(frames, -1) / sigma_lateral_m**2
        offsets -= np.linalg.solve(H, g[..., None])[..., 0].reshape(frames, markers, 2)
    return points + np.einsum("fmk,fmkc->fmc", offsets, basis)


def _levenberg_marquardt(
    z0, lengths0, dirs, pairs, which, sigma_acc, sigma_bone, height=None, iterations=MAX_ITERATIONS
):
    """Minimise the soft-L1 cost of the bone (σ per bone and frame: ``sigma_bone`` (F, S)),
    prior, smoothness and (``height`` = (c, metres)) stature residuals over (z, lengths).

    Levenberg–Marquardt with iteratively reweighted least squares for the soft-L1 loss; each
    step solves the normal equations directly (``_solve``). Written here because scipy's
    least_squares needs an iterative inner solver for sparse problems: it took 72 s for a
    minute of video to converge (bench/bench_bonefit.py prints this one's time); both reach
    the same optimum (tests/test_bonefit.py)."""
    import scipy.sparse as sp

    frames, markers = z0.shape
    n, s_count = frames * markers, len(pairs)
    f = np.arange(frames)[:, None]
    col_i, col_j = ((f * markers + pairs[None, :, k]).ravel() for k in (0, 1))
    col_l = n + np.tile(which, frames)
    rows_b = np.arange(frames * s_count)
    acc_rows = np.arange((frames - 2) * markers)
    smooth = sp.csr_matrix(
        (
            np.tile([1.0, -2.0, 1.0], len(acc_rows)) / sigma_acc,
            (np.repeat(acc_rows, 3), (acc_rows[:, None] + np.array([0, markers, 2 * markers])[None]).ravel()),
        ),
        shape=(len(acc_rows), n + len(lengths0)),
    )
    prior_j = sp.hstack([sp.identity(n) / SIGMA_PRIOR_M, sp.csr_matrix((n, len(lengths0)))]).tocsr()
    height_j = sp.csr_matrix((0, n + len(lengths0)))
    if height is not None:
        height_j = sp.csr_matrix(np.concatenate([np.zeros(n), height[0] / SIGMA_HEIGHT_M])[None])

    def parts(x):
        z, lengths = x[:n].reshape(frames, markers), x[n:]
        points = z[..., None] * dirs
        diff = points[:, pairs[:, 0]] - points[:, pairs[:, 1]]
        d = np.linalg.norm(diff, axis=-1)
        stature = [] if height is None else [(height[0] @ lengths - height[1]) / SIGMA_HEIGHT_M]
        r = np.concatenate(
            [
                ((d - lengths[which][None]) / sigma_bone).ravel(),
                ((z - z0) / SIGMA_PRIOR_M).ravel(),
                smooth @ x,
                stature,
            ]
        )
        return r, diff, d

    def cost(r):
        return float(np.sum(2.0 * (np.sqrt(1.0 + (r / PRIOR_OUTLIER) ** 2) - 1.0)) * PRIOR_OUTLIER**2 / 2)

    x = np.concatenate([z0.ravel(), lengths0])
    r, diff, d = parts(x)
    current, damping = cost(r), 1e-3
    for it in range(1, iterations + 1):
        unit = diff / np.maximum(d, 1e-9)[..., None]
        dzi = ((unit * dirs[:, pairs[:, 0]]).sum(-1) / sigma_bone).ravel()
        dzj = (-(unit * dirs[:, pairs[:, 1]]).sum(-1) / sigma_bone).ravel()
        bone_j = sp.csr_matrix(
            (
                np.concatenate([dzi, dzj, (-1.0 / sigma_bone).ravel()]),
                (np.tile(rows_b, 3), np.concatenate([col_i, col_j, col_l])),
            ),
            shape=(len(rows_b), n + len(lengths0)),
        )
        J = sp.vstack([bone_j, prior_j, smooth, height_j]).tocsr()
        w = 1.0 / np.sqrt(1.0 + (r / PRIOR_OUTLIER) ** 2)  # IRLS weights of the soft-L1 loss
        JtW = J.T.multiply(w).tocsr()
        H, g = (JtW @ J).tocsc(), JtW @ r
        diag = H.diagonal()
        while True:
            step = -_solve(H + sp.diags(damping * np.maximum(diag, 1e-9)), g, n)
            r_new, diff_new, d_new = parts(x + step)
            trial = cost(r_new)
            if trial < current:
                x, r, diff, d = x + step, r_new, diff_new, d_new
                done = current - trial < TOLERANCE * current
                current, damping = trial, max(damping / 3, 1e-9)
                break
            damping *= 4
            if damping > 1e6:
                return x[:n].reshape(frames, markers), x[n:], it, True
        if done:
            return x[:n].reshape(frames, markers), x[n:], it, True
    return x[:n].reshape(frames, markers), x[n:], iterations, False


def _solve(H, g: np.ndarray, n: int) -> np.ndarray:
    """H x = g for the normal equations: the depth block is banded in frame order (a frame
    couples to the frames two away), the few bone lengths couple to everything; so LU of the
    depth block in its natural order (fill stays in the band; 0.12 s for a minute, a banded
    Cholesky took 0.2 s) and a Schur complement for the lengths."""
    from scipy.sparse.linalg import splu

    H = H.tocsc()
    A, B, C = H[:n, :n], H[:n, n:].toarray(), H[n:, n:].toarray()
    lu = splu(A, permc_spec="NATURAL")
    AinvB, Ainvg = lu.solve(B), lu.solve(g[:n])
    lengths = np.linalg.solve(C - B.T @ AinvB, g[n:] - B.T @ Ainvg)
    return np.concatenate([Ainvg - AinvB @ lengths, lengths])
