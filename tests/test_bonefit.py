"""The per-clip bone-length fit recovers planted lengths from noisy depth, on exact rays and on
rays with a 2D detector's error."""

import numpy as np
import pytest
from conftest import REPO

from depthrefine.capture.bonefit import bone_fit, fitted_bones
from depthrefine.markers.markersets import joints_to_markers, load_markerset
from depthrefine.mocap.bvh import read_bvh
from depthrefine.mocap.kinematics import bvh_to_joints, resample

BLAZEPOSE = REPO / "config/markersets/blazepose.yaml"


def off_ray_m(points: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """(F, M) distance of each point from its ray (metres)."""
    d = np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], axis=-1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return np.linalg.norm(points - (points * d).sum(-1, keepdims=True) * d, axis=-1)


@pytest.fixture(scope="module")
def walk(data_dir):
    """Two seconds of a CMU walk as BlazePose markers, 4–6 m in front of a camera (y down)."""
    ms = load_markerset(BLAZEPOSE)
    traj = resample(bvh_to_joints(read_bvh(data_dir / "cmu-bvh/actions/test_walking_1.bvh")), 60)
    world = joints_to_markers(traj, ms)[:120]
    world -= world[:, :, :].mean(axis=(0, 1))
    camera = np.stack([world[..., 0], 0.9 - world[..., 1], 5.0 + world[..., 2]], axis=-1)
    return ms, camera


def test_planted_bone_lengths_are_recovered(walk):
    ms, truth = walk
    rays = truth[..., :2] / truth[..., 2:]
    rng = np.random.default_rng(0)
    slow = np.cumsum(rng.normal(scale=0.01, size=truth.shape[:2]), axis=0)  # drifting depth error
    prior = truth.copy()
    prior[..., 2] += 0.05 * rng.standard_normal(truth.shape[:2]) + slow - slow.mean(axis=0)
    prior[..., :2] = rays * prior[..., 2:]  # the prior on its rays too, as the workflow gives it
    fitted, lengths = bone_fit(prior, rays, ms.segments, ms.names, 60.0)
    off = off_ray_m(fitted, rays)  # exact rays: the markers stay on them, within the detector's σ
    assert np.median(off) < 0.005 and off.max() < 0.03
    pairs, which, keys = fitted_bones(ms.segments, ms.names)
    true_len = np.linalg.norm(truth[:, pairs[:, 0]] - truth[:, pairs[:, 1]], axis=-1).mean(axis=0)
    thigh = keys.index(("Hip", "Knee"))
    planted = true_len[np.asarray(which) == thigh].mean()
    assert lengths["Hip–Knee"] == pytest.approx(planted, abs=0.01)
    d = np.linalg.norm(fitted[:, pairs[:, 0]] - fitted[:, pairs[:, 1]], axis=-1)
    prior_d = np.linalg.norm(prior[:, pairs[:, 0]] - prior[:, pairs[:, 1]], axis=-1)
    cv, prior_cv = (x.std(axis=0) / x.mean(axis=0) for x in (d, prior_d))
    long_bones = [k for k, (a, b) in enumerate(pairs) if (ms.names[a], ms.names[b]) in ms.bones]
    assert cv[long_bones].max() < 0.015 and d.std(axis=0).max() < 0.005  # rigid within σ = 5 mm
    assert prior_cv[long_bones].mean() > 5 * cv[long_bones].mean()
    depth_error = np.abs(fitted[..., 2] - truth[..., 2]).mean()
    assert depth_error < 0.8 * np.abs(prior[..., 2] - truth[..., 2]).mean()  # and depth better


def test_a_stated_height_sets_the_lengths(walk):
    """One camera cannot tell a big person far away from a small one near: a prior 10 % too
    far along every ray gives 10 % long bones; the subject's stated height takes them back."""
    from depthrefine.angles.scaling import estimate_height

    ms, truth = walk
    rays = truth[..., :2] / truth[..., 2:]
    prior = 1.1 * truth  # the same rays
    height = estimate_height(truth, ms.names)
    _, free = bone_fit(prior, rays, ms.segments, ms.names, 60.0)
    fitted, stated = bone_fit(prior, rays, ms.segments, ms.names, 60.0, height_m=height)
    assert np.median(off_ray_m(fitted, rays)) < 0.005
    chain = ("Ankle–Heel", "Ankle–Knee", "Hip–Knee", "Hip–Shoulder")
    assert sum(stated[k] for k in chain) / 0.818 == pytest.approx(height, abs=0.03)  # σ = 2 cm
    pairs, which, keys = fitted_bones(ms.segments, ms.names)
    true_len = np.linalg.norm(truth[:, pairs[:, 0]] - truth[:, pairs[:, 1]], axis=-1).mean(axis=0)
    thigh = true_len[np.asarray(which) == keys.index(("Hip", "Knee"))].mean()
    assert free["Hip–Knee"] > 1.05 * thigh and stated["Hip–Knee"] == pytest.approx(thigh, rel=0.03)
    assert np.abs(fitted[..., 2] - truth[..., 2]).mean() < 0.3 * np.abs(prior[..., 2] - truth[..., 2]).mean()
    with pytest.raises(ValueError, match="needs the bone lengths"):
        segments = [s for s in ms.segments if "Heel" not in s[1]]
        bone_fit(prior, rays, segments, ms.names, 60.0, height_m=height)


def test_left_and_right_share_a_length():
    ms = load_markerset(BLAZEPOSE)
    pairs, which, keys = fitted_bones(ms.segments, ms.names)
    assert ("Hip", "Knee") in keys and ("Elbow", "Wrist") in keys and ("LHip", "RHip") in keys
    assert len(pairs) == len(which) and len(keys) < len(pairs)
    assert which[ms.segments.index(("RHip", "RKnee"))] == which[ms.segments.index(("LHip", "LKnee"))]


def test_missing_input_is_refused(walk):
    ms, truth = walk
    rays = truth[..., :2] / truth[..., 2:]
    rays[3, 2] = np.nan
    with pytest.raises(ValueError, match="needs ≥ 3 frames and every marker's ray"):
        bone_fit(truth, rays, ms.segments, ms.names, 60.0)


def test_the_solver_reaches_scipys_optimum(walk):
    """The hand-written Levenberg–Marquardt against scipy's least_squares (soft-L1, run to
    convergence) on the same cost, written out here from the module's definition."""
    from scipy.optimize import least_squares

    from depthrefine.capture import bonefit

    ms, truth = walk
    truth = truth[:40]
    rays = truth[..., :2] / truth[..., 2:]
    prior = truth.copy()
    prior[..., 2] += 0.06 * np.random.default_rng(2).standard_normal(truth.shape[:2])
    fitted, lengths = bone_fit(prior, rays, ms.segments, ms.names, 60.0, sigma_lateral_m=0.0)
    assert np.allclose(fitted[..., :2] / fitted[..., 2:], rays)  # σ_lateral 0: on the rays
    pairs, which, _ = fitted_bones(ms.segments, ms.names)
    which = np.asarray(which)
    dirs = np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], axis=-1)
    n = truth.shape[0] * truth.shape[1]

    def residuals(x):
        z, length = x[:n].reshape(truth.shape[:2]), x[n:]
        p = z[..., None] * dirs
        d = np.linalg.norm(p[:, pairs[:, 0]] - p[:, pairs[:, 1]], axis=-1)
        return np.concatenate(
            [
                ((d - length[which]) / bonefit.SIGMA_BONE_M).ravel(),
                ((z - prior[..., 2]) / bonefit.SIGMA_PRIOR_M).ravel(),
                ((z[2:] - 2 * z[1:-1] + z[:-2]) / bonefit.SIGMA_ACC_M_AT_60).ravel(),
            ]
        )

    def cost(x):
        r = residuals(x) / 3.0
        return float(np.sum(np.sqrt(1 + r**2) - 1))

    ours = np.concatenate([fitted[..., 2].ravel(), list(lengths.values())])
    start = np.concatenate([prior[..., 2].ravel(), ours[n:]])
    reference = least_squares(residuals, start, loss="soft_l1", f_scale=3.0, max_nfev=2000).x
    assert cost(ours) <= 1.01 * cost(reference)
    assert cost(ours) < 0.5 * cost(start)


def test_a_2d_detectors_error_goes_across_the_rays_not_into_depth(walk):
    """Rays off by a 2D detector's error (1.5 cm at the person, held for a few frames): on the
    rays the constant bones must take the error in depth; allowed σ_lateral across the rays,
    the fit keeps the prior's depth better and the bones constant."""
    ms, truth = walk
    rng = np.random.default_rng(4)
    keys = np.cumsum(rng.normal(scale=0.015 / 5.0, size=(12, 18, 2)), axis=0) * 0.5
    noise = np.repeat(keys, 10, axis=0)[: len(truth)]  # detector errors last ~10 frames
    rays = truth[..., :2] / truth[..., 2:] + noise
    prior_z = truth[..., 2] + 0.04 * rng.standard_normal(truth.shape[:2])
    prior = np.concatenate([rays * prior_z[..., None], prior_z[..., None]], axis=-1)
    on, _ = bone_fit(prior, rays, ms.segments, ms.names, 60.0, sigma_lateral_m=0.0)
    across, _ = bone_fit(prior, rays, ms.segments, ms.names, 60.0)
    pairs = np.array([(ms.names.index(a), ms.names.index(b)) for a, b in ms.bones])

    def cv(p):
        d = np.linalg.norm(p[:, pairs[:, 0]] - p[:, pairs[:, 1]], axis=-1)
        return float((d.std(axis=0) / d.mean(axis=0)).mean())

    def depth_error(p):
        rel = lambda x: x[..., 2] - x[:, 7:8, 2]  # noqa: E731  hip-relative, as the metrics score it
        return float(np.abs(rel(p) - rel(truth)).mean())

    assert depth_error(across) < 0.9 * depth_error(on)
    assert cv(across) < 0.01 and cv(across) < cv(on)
    assert np.median(off_ray_m(across, rays)) < 0.02  # within the detector's σ of the detections
