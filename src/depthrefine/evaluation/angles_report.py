"""The joint-angle section of a recording report (results/kinematics/{recording}/, written by
depthrefine.angles.stages): angles over time per capture, the IK marker errors and, for a
camera × person pair, the RMSE table against the reference's angles."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from depthrefine.angles import catalogue
from depthrefine.angles.stages import CAPTURES, read_angles
from depthrefine.evaluation import realval, recording_report
from depthrefine.evaluation.realval import _fmt
from depthrefine.evaluation.report import figure, png_data_url, pyplot

# the capture names are the real-validation estimates': their labels, their methods' colours
LABELS = {**{k: realval.LABELS[k] for k in CAPTURES}, "reference": "multi-camera reference"}
COLORS = {**{k: recording_report.COLORS[m] for k, m in CAPTURES.items()}, "reference": "k"}


def angles_result(angles_dir: str | Path) -> dict:
    """What the report's JSON keeps of angles.json: per capture its IK error, height and mass
    used; the RMSE against the reference when there is one."""
    summary = json.loads((Path(angles_dir) / "angles.json").read_text())
    keep = ("height_m", "height_source", "mass_kg", "ik_marker_error_rms_mm", "frames_solved", "scale_factors")
    out = {
        "model": summary["model"],
        "frame_fitted_on": summary["frame"]["fitted_on"],
        "captures": {k: {f: v[f] for f in keep} for k, v in summary["captures"].items()},
    }
    if "against_reference" in summary:
        out["against_reference"] = summary["against_reference"]
    return out


def angles_section(angles_dir: str | Path, result: dict, fps: float, frames: int) -> str:
    esc = html.escape
    angles_dir = Path(angles_dir)
    keys = list(result["captures"])
    angles = {k: read_angles(angles_dir / f"{k}.mot", fps, frames) for k in keys}
    rows = "".join(
        f"<tr><th>{esc(LABELS[k])}</th><td>{c['height_m']:.2f} ({esc(c['height_source'])})</td>"
        f"<td>{c['mass_kg']:.0f}</td><td>{_fmt(c['ik_marker_error_rms_mm']['mean'])}</td>"
        f"<td>{_fmt(c['ik_marker_error_rms_mm']['max'])}</td><td>{c['frames_solved']}</td></tr>"
        for k, c in result["captures"].items()
    )
    parts = [
        "<h2 id='joint-angles'>Joint angles (OpenSim)</h2>"
        f"<p>Pose2Sim's {esc(result['model'])} model, scaled on each capture's own marker-pair distances, "
        "then inverse kinematics (docs/angles.md). All captures share one levelled frame (Y up from the fitted "
        f"floor, X the subject's mean facing direction), fitted on the {esc(result['frame_fitted_on'])} markers. "
        "Not observable with these markers, and left out: "
        + "; ".join(f"{esc(k)} ({esc(v)})" for k, v in catalogue.NOT_OBSERVABLE.items())
        + ".</p>"
        "<table id='ik'><tr><th>capture</th><th>height (m)</th><th>mass (kg)</th><th>IK marker error RMS (mm)</th>"
        f"<th>max (mm)</th><th>frames solved</th></tr>{rows}</table>"
    ]
    ref = result.get("against_reference")
    if ref:
        scored = [k for k in keys if k in ref]
        head = "".join(f"<th>{esc(LABELS[k])}</th>" for k in scored)
        body = ""
        for name in catalogue.HEADLINE + catalogue.EXTRA:
            cells = "".join(f"<td>{_fmt(ref[k]['rmse_deg'].get(name))}</td>" for k in scored)
            body += f"<tr><th>{esc(catalogue.LABELS[name])}</th>{cells}</tr>"
        cells = "".join(f"<td><b>{_fmt(ref[k]['headline_deg'])}</b></td>" for k in scored)
        body += f"<tr><th>mean: pelvis, hip, knee, ankle</th>{cells}</tr>"
        parts.append(
            "<h3>RMSE against the reference's joint angles (°)</h3>"
            f"<table id='angle-rmse'><tr><th>angle</th>{head}</tr>{body}</table>"
        )
    plt = pyplot()
    shown = [a for a in catalogue.PLOTTED if all(a in angles[k] for k in keys)]
    fig, axes = plt.subplots((len(shown) + 1) // 2, 2, figsize=(12, 1.8 * ((len(shown) + 1) // 2)), squeeze=False)
    t = np.arange(frames) / fps
    for ax, name in zip(axes.flat, shown):
        for k in keys:
            ax.plot(t, angles[k][name], color=COLORS[k], lw=1.6 if k == "reference" else 1, label=LABELS[k])
        ax.set_ylabel(f"{catalogue.LABELS[name]} (°)", fontsize=8)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper right")
    parts.append(figure("Joint angles over time", png_data_url(fig)))
    return "\n".join(parts)
