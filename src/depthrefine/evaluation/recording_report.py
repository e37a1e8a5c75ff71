"""Per-recording evaluation without ground truth: metrics of the raw, filtered and refined markers
(docs/metrics.md, "Recordings") as JSON and as one self-contained HTML file, plus an index page.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path

import numpy as np
from scipy.signal import welch

from depthrefine.evaluation.estimates import estimates, load_recording
from depthrefine.evaluation.metrics import observed_metrics
from depthrefine.evaluation.report import figure, html_page, png_data_url, pyplot
from depthrefine.io import atomic_write_text
from depthrefine.markers.index import MarkerIndex

log = logging.getLogger(__name__)

METHODS = {
    "raw": "raw",
    "butterworth_6hz": "Butterworth 6 Hz",
    "savitzky_golay": "Savitzky–Golay",
    "learned": "refined",
    "rays": "raw on camera rays",  # video input only
    "bone_fit": "refined + bone fit",  # video input only
}
COLORS = {
    "raw": "0.6",
    "butterworth_6hz": "#4c72b0",
    "savitzky_golay": "#55a868",
    "learned": "#c44e52",
    "rays": "#8172b2",
    "bone_fit": "#937860",
}
MAIN_MARKERS = ("LKnee", "RKnee", "LAnkle", "RAnkle", "LWrist", "RWrist")


def _rows(metrics: dict) -> dict[str, float]:
    """The flat metric table of one method: name → value."""
    out = {"bone-length CV": metrics["bone_cv"]}
    out.update({f"pelvis ROM {axis} (°)": v for axis, v in metrics["pelvis_rom_deg"].items()})
    out["ground violations (%)"] = metrics["ground_violation_pct"]
    out["depth jitter (mm)"] = metrics["depth_jitter_mm"]
    return out


def evaluate_recording(
    refined_parquet: str,
    markerset_path: str,
    out_json: str,
    out_html: str,
    preview_png: str,
    *,
    name: str,
    savgol_window_s: float = 0.25,
    reference_parquet: str | None = None,
    angles_dir: str | None = None,
) -> dict:
    rec = load_recording(refined_parquet, markerset_path)
    observed, ms, index, fps, meta = rec.observed, rec.markerset, rec.index, rec.fps, rec.meta
    outputs = estimates(rec, savgol_window_s)
    metrics = {m: observed_metrics(xyz, index) for m, xyz in outputs.items()}
    table = {m: _rows(v) for m, v in metrics.items()}
    change = {k: (table["learned"][k] - v) / abs(v) * 100 if v else None for k, v in table["raw"].items()}
    capture = json.loads(meta.get("capture", "{}"))
    result = {
        "recording": name,
        "source": meta.get("source"),
        "markerset": ms.name,
        "fps": fps,
        "frames": int(observed.shape[0]),
        "duration_s": observed.shape[0] / fps,
        "capture": capture,
        "table": table,
        "change_pct": change,
        "metrics": metrics,
    }
    reference = None
    if reference_parquet:
        from depthrefine.evaluation.realval import score_pair
        from depthrefine.multiview.stages import reference_markers

        reference = reference_markers(reference_parquet, index.names)
        hip = index.names.index(ms.pelvis_markers["mid"])
        result["against_reference"] = score_pair(outputs, reference, hip, list(index.bones), index.names)
        result["against_reference"]["hip_marker"] = ms.pelvis_markers["mid"]
    angles_html = ""
    if angles_dir:
        from depthrefine.evaluation.angles_report import angles_result, angles_section

        result["joint_angles"] = angles_result(angles_dir)
        angles_html = angles_section(angles_dir, result["joint_angles"], fps, len(observed))
    atomic_write_text(out_json, json.dumps(result, indent=2, default=float) + "\n")
    atomic_write_text(out_html, render(result, outputs, index, fps, preview_png, reference, angles_html))
    log.info("%s: report written (%d frames)", name, observed.shape[0])
    return result


def _figures(outputs: dict, index: MarkerIndex, fps: float, metrics: dict) -> list[tuple[str, str]]:
    plt = pyplot()
    names = index.names
    t = np.arange(outputs["raw"].shape[0]) / fps
    figs = []
    picks = [n for n in MAIN_MARKERS if n in names] or names[:4]
    fig, axes = plt.subplots(len(picks), 1, figsize=(11, 1.9 * len(picks)), sharex=True, squeeze=False)
    for ax, marker in zip(axes[:, 0], picks):
        k = names.index(marker)
        for method in ("raw", "butterworth_6hz", "learned"):
            ax.plot(t, outputs[method][:, k, 2], color=COLORS[method], lw=1.1, label=METHODS[method])
        ax.set_ylabel(f"{marker}\nz (m)", fontsize=8)
    axes[0, 0].legend(fontsize=8, ncol=3, loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    figs.append(("Depth over time (camera z; hip-centred for video)", png_data_url(fig)))

    bones = index.bones
    cols = 4
    rows = int(np.ceil(len(bones) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.3 * rows), sharex=True, squeeze=False)
    for ax, (a, b) in zip(axes.ravel(), bones):
        for method in ("raw", "learned"):
            xyz = outputs[method]
            ax.plot(
                t, np.linalg.norm(xyz[:, a] - xyz[:, b], axis=-1), color=COLORS[method], lw=1, label=METHODS[method]
            )
        ax.set_title(f"{names[a]}–{names[b]} (m)", fontsize=8)
    for ax in axes.ravel()[len(bones) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    figs.append(("Segment lengths over time", png_data_url(fig)))

    fig, axes = plt.subplots(1, 2, figsize=(12, 3), sharey=True)
    for ax, method in zip(axes, ("raw", "learned")):
        xyz = outputs[method]
        floor = metrics[method]["floor"]  # the plane the metrics used
        for k in index.feet:
            height = xyz[:, k] @ np.asarray(floor["normal"]) - floor["offset_m"]
            ax.plot(t, height * 1000, lw=0.9, label=names[k])
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(-10, color="r", lw=0.8, ls="--")
        ax.set_title(f"{METHODS[method]}: foot height above its fitted floor (mm)", fontsize=9)
        ax.set_xlabel("time (s)")
    axes[0].legend(fontsize=7, ncol=2)
    figs.append(("Foot height against the fitted floor plane (red: −10 mm violation line)", png_data_url(fig)))

    fig, ax = plt.subplots(figsize=(8, 3.2))
    nper = min(256, outputs["raw"].shape[0])
    for method, xyz in outputs.items():
        f, p = welch(xyz[..., 2], fs=fps, nperseg=nper, axis=0)
        ax.semilogy(f, p.mean(axis=1), color=COLORS[method], label=METHODS[method])
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("depth PSD (m²/Hz)")
    ax.legend(fontsize=8)
    figs.append(("Jitter spectrum (power of depth, mean over markers)", png_data_url(fig)))
    return figs


def _fmt(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"


def _reference_section(result: dict, outputs: dict, index: MarkerIndex, fps: float, reference: np.ndarray) -> str:
    """The "against the multi-camera reference" section (docs/metrics.md)."""
    from depthrefine.evaluation.realval import ESTIMATES, LABELS, METRICS, hip_relative

    scores = result["against_reference"]
    est = scores["estimates"]
    keys = [k for k in ESTIMATES if k in est]
    head = "".join(f"<th>{html.escape(LABELS[k])}</th>" for k in keys)
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{_fmt(est[k][m])}</td>" for k in keys) + "</tr>"
        for m, label in METRICS.items()
    )
    rows += (
        f"<tr><th>reference itself: jitter (mm) / bone CV (%)</th><td colspan='{len(keys)}'>"
        f"{_fmt(scores['reference']['jitter_mm'])} / {_fmt(scores['reference']['bone_cv_pct'])}</td></tr>"
    )
    markers = list(est["raw"]["depth_mm_per_marker"])
    per_marker = "".join(
        f"<tr><th>{html.escape(n)}</th>"
        + "".join(f"<td>{_fmt(est[k]['depth_mm_per_marker'].get(n))}</td>" for k in keys)
        + "</tr>"
        for n in markers
    )
    plt = pyplot()
    n = scores["frames"]
    hip = index.names.index(scores["hip_marker"])
    t = np.arange(n) / fps
    picks = [m for m in MAIN_MARKERS if m in index.names]
    fig, axes = plt.subplots(len(picks), 1, figsize=(11, 1.9 * len(picks)), sharex=True, squeeze=False)
    ref_rel = hip_relative(reference[:n], hip)
    for ax, marker in zip(axes[:, 0], picks):
        k = index.names.index(marker)
        ax.plot(t, ref_rel[:, k, 2], color="k", lw=1.6, label="multi-camera reference")
        for key in keys:
            method = ESTIMATES[key]
            ax.plot(t, hip_relative(outputs[method][:n], hip)[:, k, 2], color=COLORS[method], lw=1, label=LABELS[key])
        ax.set_ylabel(f"{marker}\nz − hip (m)", fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=5, loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    pair = result["capture"].get("pair", {})
    return (
        "<h2 id='against-reference'>Against the multi-camera reference</h2>"
        f"<p>Reference: {html.escape(str(pair.get('session')))} person {html.escape(str(pair.get('person')))}, "
        f"triangulated from ≥ 3 views, in camera {html.escape(str(pair.get('camera')))}'s frame; {n} frames scored. "
        "All metrics hip-relative (docs/metrics.md).</p>"
        f"<table id='reference-metrics'><tr><th>metric</th>{head}</tr>{rows}</table>"
        "<h3>Hip-relative depth error per marker (mm)</h3>"
        f"<table id='reference-markers'><tr><th>marker</th>{head}</tr>{per_marker}</table>"
        + figure("Hip-relative depth over time, with the reference", png_data_url(fig))
    )


def render(
    result: dict, outputs: dict, index: MarkerIndex, fps: float, preview_png: str, reference=None, angles_html: str = ""
) -> str:
    table, change = result["table"], result["change_pct"]
    shown = [m for m in METHODS if m in table]
    head = "".join(f"<th>{html.escape(METHODS[m])}</th>" for m in shown)
    body = ""
    for key in table["raw"]:
        cells = "".join(f"<td>{_fmt(table[m][key])}</td>" for m in shown)
        pct = change[key]
        body += f"<tr><th>{html.escape(key)}</th>{cells}<td>{'–' if pct is None else f'{pct:+.1f} %'}</td></tr>"
    lengths = result["metrics"]["learned"]["bone_lengths_m"]
    raw_lengths = result["metrics"]["raw"]["bone_lengths_m"]
    seg_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{raw_lengths[k]:.3f}</td><td>{v:.3f}</td></tr>" for k, v in lengths.items()
    )
    seg_rows += (
        f"<tr><th>hip width</th><td>{result['metrics']['raw']['hip_width_m']:.3f}</td>"
        f"<td>{result['metrics']['learned']['hip_width_m']:.3f}</td></tr>"
    )
    preview = "data:image/png;base64," + base64.b64encode(Path(preview_png).read_bytes()).decode()
    cap = result["capture"]
    video = cap.get("video")
    frame_title = (
        f"Video frame {video['preview_frame']} with the followed person's 2D landmarks"
        if video
        else "Skeleton at the middle frame (marker-file input: no video)"
    )
    notes = [
        f"source <code>{html.escape(str(result['source']))}</code>",
        f"{result['frames']} frames at {fps:g} fps ({result['duration_s']:.1f} s), marker set "
        f"<code>{html.escape(result['markerset'])}</code>, model <code>{html.escape(str(cap.get('model')))}</code>",
    ]
    if video:
        notes.append(
            f"video {video['width']}×{video['height']} at {cap['fps_in']:g} fps, {video['frames']} frames, "
            f"person followed in {video['frames_with_person']} (up to {video['max_people']} people per frame)"
        )
    trimmed = cap.get("trimmed_frames", {})
    if trimmed.get("start") or trimmed.get("end"):
        notes.append(
            f"trimmed {trimmed['start']} leading and {trimmed['end']} trailing input frames without the person"
        )
    gaps = cap.get("filled_gaps", [])
    if gaps:
        notes.append(f"{len(gaps)} gaps filled (longest {max(g['frames'] for g in gaps)} input frames)")
    ref_section = "" if reference is None else _reference_section(result, outputs, index, fps, reference)
    figs = _figures(outputs, index, fps, result["metrics"])
    imgs = figure(frame_title, preview, css_class="frame", element_id="frame", alt="video frame")
    imgs += "".join(figure(title, src) for title, src in figs)
    return html_page(
        result["recording"],
        f"""<h1>{html.escape(result["recording"])}: depth refinement report</h1>
<ul>{"".join(f"<li>{n}</li>" for n in notes)}</ul>
<p>No ground truth: these metrics measure plausibility (definitions in docs/metrics.md). The floor is a
plane fitted to each trajectory's lowest stance positions; video markers are hip-centred.</p>
<table id="metrics"><tr><th>metric</th>{head}<th>change (refined vs raw)</th></tr>{body}</table>
<h2>Mean segment lengths (m)</h2>
<table id="segments"><tr><th>segment</th><th>raw</th><th>refined</th></tr>{seg_rows}</table>
{ref_section}
{imgs}
{angles_html}""",
    )


def render_index(reports: list[str], out_html: str) -> None:
    rows = ""
    for path in sorted(reports):
        r = json.loads(Path(path).read_text())
        t, c = r["table"], r["change_pct"]
        cells = "".join(
            f"<td>{_fmt(t['raw'][k])} → {_fmt(t['learned'][k])} ({'–' if c[k] is None else f'{c[k]:+.0f} %'})</td>"
            for k in ("bone-length CV", "ground violations (%)", "depth jitter (mm)")
        )
        name = html.escape(r["recording"])
        rows += f"<tr><th><a href='{name}.html'>{name}</a></th><td>{r['duration_s']:.1f}</td>{cells}</tr>"
    atomic_write_text(
        out_html,
        html_page(
            "recordings",
            f"""<h1>Evaluated recordings</h1><p>Raw → refined (change). <a href="heldout.html">Held-out quality</a>,
when built.</p>
<table id="recordings"><tr><th>recording</th><th>seconds</th><th>bone-length CV</th><th>ground violations (%)</th>
<th>depth jitter (mm)</th></tr>{rows}</table>""",
        ),
    )
