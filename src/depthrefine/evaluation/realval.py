"""Scores against a multi-camera reference (docs/metrics.md, "Against a multi-camera
reference"): per camera × person pair, every estimate (raw, Butterworth, Savitzky–Golay,
refined) against the reference in that camera's frame; and the summary over all pairs.

All position metrics are hip-relative (the midHip marker subtracted per frame), since a
single camera's BlazePose world landmarks are hip-centred and its absolute depth unknown.
Only frames × markers where the estimate and the reference are both finite count.
"""

from __future__ import annotations

import html
import json
import logging

import numpy as np

from depthrefine.evaluation.metrics import bone_length_cv, depth_jitter_mm

log = logging.getLogger(__name__)

# Estimate → the recording report's method; "rays" (the raw markers on their camera rays)
# and "bone_fit" (the refined markers fitted to the clip's constant bone lengths, within the
# 2D detector's error of their rays) exist for video input only.
ESTIMATES = {
    "raw": "raw",
    "rays": "rays",
    "butterworth": "butterworth_6hz",
    "savgol": "savitzky_golay",
    "refined": "learned",
    "bone_fit": "bone_fit",
}
LABELS = {
    "raw": "raw BlazePose",
    "rays": "raw on camera rays",
    "bone_fit": "chain: refined on rays, lean, size, bone-length fit",
    "butterworth": "Butterworth 6 Hz",
    "savgol": "Savitzky–Golay",
    "refined": "learned refinement",
}
METRICS = {
    "depth_mm": "hip-relative depth error (mm)",
    "mpjpe_mm": "MPJPE (mm)",
    "mpjpe_rigid_mm": "MPJPE after rigid alignment (mm)",
    "jitter_mm": "depth jitter (mm)",
    "bone_cv_pct": "bone-length CV (%)",
}


def hip_relative(xyz: np.ndarray, hip: int) -> np.ndarray:
    return xyz - xyz[:, hip : hip + 1]


def bone_cv_pct(xyz: np.ndarray, bones: list[tuple[int, int]]) -> float:
    """Mean over the long bones of std/mean of the bone's length over the frames it exists, in %."""
    return bone_length_cv(xyz, np.asarray(bones)) * 100 if len(bones) else float("nan")


def rigid_aligned(est: np.ndarray, ref: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """est (F, M, 3) rotated and translated per frame onto ref (Kabsch, no scale) on the markers ok (F, M)."""
    out = np.full_like(est, np.nan)
    for f in range(len(est)):
        m = ok[f]
        if m.sum() < 3:
            continue
        a, b = est[f, m], ref[f, m]
        ca, cb = a.mean(axis=0), b.mean(axis=0)
        u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
        d = np.sign(np.linalg.det(u @ vt))
        R = u @ np.diag([1, 1, d]) @ vt
        out[f] = (est[f] - ca) @ R + cb
    return out


def against_reference(est: np.ndarray, ref: np.ndarray, hip: int, bones, names: list[str]) -> dict:
    """The metrics of one estimate (F, M, 3, camera frame, metres) against the reference."""
    e, r = hip_relative(est, hip), hip_relative(ref, hip)
    ok = np.isfinite(e).all(axis=-1) & np.isfinite(r).all(axis=-1)
    ok[:, hip] = False  # zero by construction
    depth = np.abs(e[..., 2] - r[..., 2])
    dist = np.linalg.norm(e - r, axis=-1)
    aligned = rigid_aligned(e, r, ok)
    rigid = np.linalg.norm(aligned - r, axis=-1)
    return {
        "depth_mm": float(depth[ok].mean() * 1000),
        "mpjpe_mm": float(dist[ok].mean() * 1000),
        "mpjpe_rigid_mm": float(np.nanmean(np.where(ok, rigid, np.nan)) * 1000),
        "jitter_mm": depth_jitter_mm(e),
        "bone_cv_pct": bone_cv_pct(est, bones),
        "depth_mm_per_marker": {
            n: float(depth[ok[:, k], k].mean() * 1000) for k, n in enumerate(names) if ok[:, k].any()
        },
        "scored_marker_frames": int(ok.sum()),
    }


def score_pair(outputs: dict[str, np.ndarray], reference: np.ndarray, hip: int, bones, names: list[str]) -> dict:
    """outputs: the recording report's methods → (F, M, 3). Returns estimates → metrics and
    the reference's own jitter and bone CV."""
    n = min(len(reference), *(len(v) for v in outputs.values()))
    estimates = {
        key: against_reference(outputs[method][:n], reference[:n], hip, bones, names)
        for key, method in ESTIMATES.items()
        if method in outputs
    }
    ref_rel = hip_relative(reference[:n], hip)
    return {
        "frames": int(n),
        "estimates": estimates,
        "reference": {"jitter_mm": depth_jitter_mm(ref_rel), "bone_cv_pct": bone_cv_pct(reference[:n], bones)},
    }


def score_refined(refined_parquet: str, reference_parquet: str, markerset_path: str) -> dict:
    """One pair's refinement by another model (``refined_xyz``) against the reference: the
    metrics of ``against_reference``, as in the pair's report."""
    from depthrefine.markers.index import MarkerIndex
    from depthrefine.markers.markersets import load_markerset
    from depthrefine.multiview.stages import read_reference_parquet
    from depthrefine.tables import read_learned, read_observations

    _, refined, table, meta = read_observations(refined_parquet)
    learned = read_learned(table)  # a video's: the refiner's own output, before the bone fit
    refined = refined if learned is None else learned
    if refined is None:
        raise ValueError(f"{refined_parquet}: no refined_xyz column")
    ms = load_markerset(markerset_path)
    index = MarkerIndex.from_markerset(ms, json.loads(meta["markers"]), source=refined_parquet)
    reference = read_reference_parquet(reference_parquet)[0]
    n = min(len(reference), len(refined))
    hip = index.names.index(ms.pelvis_markers["mid"])
    return against_reference(refined[:n], reference[:n], hip, list(index.bones), index.names)


def _fmt(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.1f}"


def summarise(pairs: list[dict]) -> dict:
    """estimate → metric → {mean, sd, n} over the pairs (the estimates every pair has)."""
    out = {}
    for key in [k for k in pairs[0]["estimates"] if all(k in p["estimates"] for p in pairs)]:
        out[key] = {}
        for m in METRICS:
            out[key][m] = _stats([p["estimates"][key][m] for p in pairs])
    return out


def _stats(values) -> dict:
    """{mean, sd, n} of the finite values."""
    vals = np.array(values, dtype=float)
    vals = vals[np.isfinite(vals)]
    return {
        "mean": float(vals.mean()) if len(vals) else None,
        "sd": float(vals.std(ddof=1)) if len(vals) > 1 else None,
        "n": int(len(vals)),
    }


def summarise_angles(pairs: list[dict]) -> dict:
    """estimate → {headline_deg: {mean, sd, n}, rmse_deg: angle → mean} over the pairs that
    have joint angles (the RMSE against the reference's angles, depthrefine.angles)."""
    from depthrefine.angles.catalogue import EXTRA, HEADLINE

    scored = [p["joint_angles"] for p in pairs if p.get("joint_angles")]
    out = {}
    for key in [k for k in ESTIMATES if scored and all(k in a for a in scored)]:
        out[key] = {
            "headline_deg": _stats([a[key]["headline_deg"] for a in scored]),  # None → NaN
            "rmse_deg": {
                n: float(np.mean([a[key]["rmse_deg"][n] for a in scored if n in a[key]["rmse_deg"]]))
                for n in HEADLINE + EXTRA
                if any(n in a[key]["rmse_deg"] for a in scored)
            },
        }
    return out


def realval_summary(
    pair_reports: list[str],
    qc_files: list[str],
    out_json: str,
    out_html: str,
    compare: dict[str, dict[str, dict]] | None = None,
    fit_pairs: list[str] | None = None,
    synthetic: dict | None = None,
) -> dict:
    """The realval target: every evaluated pair's scores (from its recording report's JSON) and
    every person's reference QC → one JSON and one self-contained HTML page. ``compare``:
    source subset → pair (recording name) → its ``score_refined`` metrics, for the same model
    trained on those sources only; shown as "refined (<subset> only)" beside the others.
    ``fit_pairs``: globs of the pairs the error model is fitted on (config
    error_model_fit_pairs); the others get a summary of their own, "held out". ``synthetic``:
    the same model's held-out report on its shards' test split (heldout.evaluate_heldout's
    JSON), shown beside the real table."""
    from depthrefine.evaluation.error_model_report import is_fit_pair
    from depthrefine.evaluation.report import html_page
    from depthrefine.io import atomic_write_text

    pairs, qc, skipped = [], {}, []
    for path in qc_files:
        q = json.loads(open(path).read())
        for person, pq in q["people"].items():
            qc[f"{q['session']}/{person}"] = {
                "session": q["session"],
                "person": person,
                "median_reproj_px": pq["median_reproj_px"],
                "median_reproj_all_views_px": pq.get("median_reproj_all_views_px"),
                "kept_fraction": pq["kept_fraction"],
                "frame_coverage": pq["frame_coverage"],
                "frames_associated": pq["frames_associated"],
                "bone_cv_pct": pq["bone_cv_pct"],
            }
        skipped += [dict(p, session=q["session"]) for p in q["pairs"] if not p["evaluated"]]
    for path in pair_reports:
        r = json.loads(open(path).read())
        pair = r["capture"]["pair"]
        ref = r["against_reference"]
        estimates = dict(ref["estimates"])
        for subset, scores in (compare or {}).items():
            estimates[f"refined[{subset}]"] = scores[r["recording"]]
        pairs.append(
            {
                "session": pair["session"],
                "camera": pair["camera"],
                "person": pair["person"],
                "held_out": not is_fit_pair(r["recording"], fit_pairs or []),
                "frames": ref["frames"],
                "estimates": estimates,
                "reference": ref["reference"],
                "joint_angles": r.get("joint_angles", {}).get("against_reference"),
                "upright": r["capture"].get("upright"),  # the lean decision (capture/upright.py)
                "floor_scale": r["capture"].get("floor_scale"),  # the size from the floor (capture/floor.py)
                "bone_fit_height_m": r["capture"].get("bone_fit", {}).get("height_m"),
            }
        )
    result = {
        "pairs": pairs,
        "summary": summarise(pairs) if pairs else {},
        "summary_held_out": summarise(held) if (held := [p for p in pairs if p["held_out"]]) else {},
        # each session's own mean (a held-out clip is judged on its own pairs, not pooled with the lab's)
        "summary_per_session": {
            session: summarise([p for p in pairs if p["session"] == session])
            for session in sorted({p["session"] for p in pairs})
        },
        "fit_pairs": list(fit_pairs or []),
        "joint_angles": summarise_angles(pairs),
        "reference_qc": qc,
        "not_evaluated": skipped,
        "synthetic_heldout": synthetic_summary(synthetic) if synthetic else None,
    }
    atomic_write_text(out_json, json.dumps(result, indent=2, default=float) + "\n")
    atomic_write_text(out_html, html_page("Real multi-camera validation", _body(result)))
    log.info("realval: %d pairs, %d people referenced", len(pairs), len(qc))
    return result


# The held-out report's methods and metrics under the real table's names and units.
SYNTHETIC_METHODS = {
    "corrupted": "raw",
    "butterworth_6hz": "butterworth",
    "savitzky_golay": "savgol",
    "learned": "refined",
}
SYNTHETIC_METRICS = {"depth_error_mm": "depth_mm", "mpjpe_mm": "mpjpe_mm", "depth_jitter_mm": "jitter_mm"}


def synthetic_summary(heldout: dict) -> dict:
    """The held-out report's frame-weighted table, in the real table's keys (bone CV in %)."""
    table = {}
    for method, key in SYNTHETIC_METHODS.items():
        row = heldout["table"][method]
        table[key] = {new: row[old] for old, new in SYNTHETIC_METRICS.items()} | {"bone_cv_pct": 100 * row["bone_cv"]}
    return {"test_files": heldout["test_files"], "clips": heldout["clips"], "frames": heldout["frames"], "table": table}


def _synthetic_table(synthetic: dict | None) -> str:
    if not synthetic:
        return ""
    keys = list(synthetic["table"])
    head = "".join(f"<th>{html.escape('corrupted input' if k == 'raw' else _label(k))}</th>" for k in keys)
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(f"<td>{_fmt(synthetic['table'][k][m])}</td>" for k in keys)
        + "</tr>"
        for m, label in METRICS.items()
        if m in synthetic["table"][keys[0]]
    )
    return (
        "<h2 id='synthetic'>Synthetic held-out: the same model on its shards' test split</h2>"
        f"<p>{synthetic['test_files']} test files, {synthetic['clips']} clips, {synthetic['frames']} frames of "
        "mocap with monocular errors added (the training corruption), frame-weighted means as in the "
        "held-out report (docs/metrics.md; jitter there is of the depth itself, not hip-relative); no "
        "bone-length fit (no camera rays). A gain on the real pairs should not be bought with a loss here.</p>"
        f"<table id='synthetic-heldout'><tr><th></th>{head}</tr>{rows}</table>"
    )


def _label(key: str) -> str:
    """'refined[cmu]' → 'learned refinement, trained on cmu only'."""
    if key.startswith("refined[") and key.endswith("]"):
        return f"{LABELS['refined']}, trained on {key[8:-1].replace('+', ' + ')} only"
    return LABELS[key]


def _angles_table(summary: dict, pairs: list[dict]) -> str:
    """Joint-angle RMSE against the reference's angles: the headline mean and each angle, and
    the headline of each pair."""
    from depthrefine.angles.catalogue import EXTRA, HEADLINE
    from depthrefine.angles.catalogue import LABELS as ANGLE_LABELS

    if not summary:
        return ""
    esc = html.escape
    keys = list(summary)
    head = "".join(f"<th>{esc(_label(k))}</th>" for k in keys)
    h = {k: summary[k]["headline_deg"] for k in keys}
    rows = (
        "<tr><th>mean RMSE: pelvis, hip, knee, ankle</th>"
        + "".join(f"<td><b>{_fmt(h[k]['mean'])} ± {_fmt(h[k]['sd'])}</b></td>" for k in keys)
        + "</tr>"
    )
    for name in HEADLINE + EXTRA:
        rows += (
            f"<tr><th>{esc(ANGLE_LABELS[name])}</th>"
            + "".join(f"<td>{_fmt(summary[k]['rmse_deg'].get(name))}</td>" for k in keys)
            + "</tr>"
        )
    n = h[keys[0]]["n"]
    per_pair = "".join(
        "<tr>"
        + "".join(f"<td>{esc(str(p[k]))}</td>" for k in ("session", "camera", "person"))
        + "".join(f"<td>{_fmt(p['joint_angles'][k]['headline_deg'])}</td>" for k in keys)
        + "</tr>"
        for p in pairs
        if p.get("joint_angles")
    )
    return (
        f"<h2 id='joint-angles'>Joint-angle RMSE against the reference (°), mean over {n} pairs</h2>"
        "<p>OpenSim scaling + inverse kinematics of each capture and of the reference, in one levelled frame "
        "per pair (docs/angles.md). Lumbar, shoulder and forearm rotation are not observable with these markers "
        "and left out.</p>"
        f"<table id='angle-rmse'><tr><th>angle</th>{head}</tr>{rows}</table>"
        "<h3>Mean RMSE over pelvis, hip, knee, ankle per pair (°)</h3>"
        f"<table id='angle-rmse-pairs'><tr><th>session</th><th>camera</th><th>person</th>{head}</tr>{per_pair}</table>"
    )


def _mean_rows(summary: dict, keys: list[str]) -> str:
    """Table rows, one per metric: mean ± sd of each estimate."""
    return "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(f"<td>{_fmt(summary[k][m]['mean'])} ± {_fmt(summary[k][m]['sd'])}</td>" for k in keys)
        + "</tr>"
        for m, label in METRICS.items()
    )


def _lean(upright: dict | None) -> str:
    """The refiner's median lean from upright and what the bone fit took (docs/model.md, "The camera's up")."""
    if not upright:
        return "camera's up not known"
    if upright["turned"]:
        return (
            f"{upright['lean_deg']:.0f} → {upright['lean_after_deg']:.0f} (the mirrored lean in "
            f"{upright['turned_frames']} of {upright['frames']} frames)"
        )
    return f"{upright['lean_deg']:.0f} (mirrored: {upright['mirrored_lean_deg']:.0f})"


def _scale(floor_scale: dict | None, height_m: float | None) -> str:
    """Where the body's size came from (docs/model.md, "Scale from the floor")."""
    if height_m is not None:
        return f"the subject's height, {height_m:.2f} m"
    if not floor_scale:
        return "the body's own (no camera height)"
    if floor_scale["scale"] is None:
        return f"the body's own: {html.escape(floor_scale['why_not'])}"
    return f"× {floor_scale['scale']:.3f}: the floor {floor_scale['camera_height_m']:.2f} m below the camera"


def _body(result: dict) -> str:
    esc = html.escape
    parts = [
        "<h1>Real multi-camera validation</h1>"
        "<p>Each camera × person pair: that camera's own BlazePose output (what a single-camera user "
        "gets), filtered and refined, scored against the multi-camera triangulated reference in the "
        "camera's frame. Definitions: docs/metrics.md. With ~100 frames per pair, differences under "
        "about 3–5 mm in depth error are not resolved; see the spread across pairs.</p>"
    ]
    if result["pairs"]:
        keys = list(result["summary"])
        head = "".join(f"<th>{esc(_label(k))}</th>" for k in keys)
        parts.append(
            f"<h2>Mean ± sd over {len(result['pairs'])} pairs</h2>"
            f"<table><tr><th></th>{head}</tr>{_mean_rows(result['summary'], keys)}</table>"
        )
        held = [p for p in result["pairs"] if p["held_out"]]
        if held:
            parts.append(
                f"<h2>Held out: mean ± sd over the {len(held)} pairs the error model was not fitted on</h2>"
                f"<p>Fitted on pairs matching {esc(', '.join(result['fit_pairs']) or 'none')} "
                "(config error_model_fit_pairs).</p>"
                f"<table id='held-out'><tr><th></th>{head}</tr>{_mean_rows(result['summary_held_out'], keys)}</table>"
            )
        sessions = result.get("summary_per_session", {})
        if len(sessions) > 1:
            for session, summary in sessions.items():
                n = sum(p["session"] == session for p in result["pairs"])
                parts.append(
                    f"<h2>Session {esc(session)}: mean ± sd over its {n} pairs</h2>"
                    f"<table class='session'><tr><th></th>{head}</tr>{_mean_rows(summary, keys)}</table>"
                )
        head = "".join(f"<th>{esc(_label(k))}<br>depth / MPJPE / jitter / bone CV</th>" for k in keys)
        rows = ""
        for p in result["pairs"]:
            cells = "".join(
                "<td>"
                + " / ".join(_fmt(p["estimates"][k][m]) for m in ("depth_mm", "mpjpe_mm", "jitter_mm", "bone_cv_pct"))
                + "</td>"
                for k in keys
            )
            who = "".join(f"<td>{esc(str(p[k]))}</td>" for k in ("session", "camera", "person", "frames"))
            who += f"<td>{'held out' if p['held_out'] else 'fitting'}</td>"
            size = _scale(p.get("floor_scale"), p.get("bone_fit_height_m"))
            rows += f"<tr>{who}<td>{_lean(p.get('upright'))}</td><td>{size}</td>{cells}</tr>"
        parts.append(
            "<h2>Per pair</h2><table><tr><th>session</th><th>camera</th><th>person</th><th>frames</th>"
            "<th>error model</th><th>lean from the camera's up (°)</th><th>the body's size</th>"
            f"{head}</tr>{rows}</table>"
        )
        parts.append(_angles_table(result["joint_angles"], result["pairs"]))
    else:
        parts.append("<p><b>No camera × person pair could be evaluated.</b></p>")
    parts.append(_synthetic_table(result.get("synthetic_heldout")))
    rows = "".join(
        f"<tr><td>{esc(q['session'])}</td><td>{esc(q['person'])}</td><td>{q['frames_associated']}</td>"
        f"<td>{100 * q['frame_coverage']:.0f} %</td><td>{100 * q['kept_fraction']:.1f} %</td>"
        f"<td>{_fmt(q['median_reproj_px'])}</td><td>{_fmt(q.get('median_reproj_all_views_px'))}</td>"
        f"<td>{_fmt(q['bone_cv_pct'])}</td></tr>"
        for q in result["reference_qc"].values()
    )
    parts.append(
        "<h2>Reference quality</h2><table><tr><th>session</th><th>person</th><th>frames associated</th>"
        "<th>frame coverage</th><th>marker-frames kept</th><th>median reprojection, views used (px)</th>"
        "<th>… every view that saw it (px)</th><th>bone CV (%)</th></tr>"
        f"{rows}</table>"
    )
    if result["not_evaluated"]:
        items = "".join(
            f"<li>{esc(p['session'])} {esc(p['camera'])} × {esc(p['person'])}: the camera's own detections match "
            f"the person in {100 * p['coverage']:.0f} % of the referenced frames</li>"
            for p in result["not_evaluated"]
        )
        parts.append(f"<h2>Pairs not evaluated</h2><ul>{items}</ul>")
    return "\n".join(parts)
