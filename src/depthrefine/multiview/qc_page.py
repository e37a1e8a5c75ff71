"""The reference QC page of one session: reprojection error per camera, points kept per
marker, bone-length CV of the reference itself, camera rotations before/after."""

from __future__ import annotations

import html

import numpy as np

from depthrefine.evaluation.report import figure, html_page, png_data_url, pyplot


def _f(v, digits=1) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def render_qc(qc: dict) -> str:
    esc = html.escape
    plt = pyplot()
    parts = [
        f"<h1>Multi-camera reference: {esc(qc['session'])}</h1>",
        f"<p>{qc['frames']} frames at {qc['fps']:g} fps, cameras {esc(', '.join(qc['cameras']))}, marker set "
        f"{esc(qc['markerset'])}. Points are triangulated from ≥ 3 views: all of them while their mean "
        f"reprojection error is ≤ {_f(qc.get('view_error_px'))} px, else the subset that agrees best "
        "(docs/multiview.md). Median "
        f"reprojection error of landmarks seen in every view: {_f(qc['median_4view_px_before'])} px with the "
        f"calibration as given, {_f(qc['median_4view_px_after'])} px after the rotation refinement.</p>",
    ]
    if "rotation_deg" in qc:
        rows = "".join(
            f"<tr><td>{esc(c)}</td><td>{_f(np.linalg.norm(r), 2)}</td><td>{esc(str(r))}</td></tr>"
            for c, r in qc["rotation_deg"].items()
        )
        parts.append(
            "<h2>Camera rotation refinement</h2><table><tr><th>camera</th><th>angle (°)</th>"
            f"<th>rotation vector (°)</th></tr>{rows}</table>"
        )
    rows = ""
    for name, p in qc["people"].items():
        rows += (
            f"<tr><td>{esc(name)}</td><td>{p['frames_associated']}</td><td>{100 * p['frame_coverage']:.0f} %</td>"
            f"<td>{100 * p['kept_fraction']:.1f} %</td><td>{_f(p['median_reproj_px'])}</td>"
            f"<td>{_f(p['median_reproj_all_views_px'])}</td><td>{100 * p['views_left_out_fraction']:.1f} %</td>"
            f"<td>{_f(p['bone_cv_pct'])}</td>"
            f"<td>{p['views_flipped']}</td><td>{p['limbs_swapped']}</td></tr>"
        )
    parts.append(
        "<h2>People</h2><table><tr><th>person</th><th>frames associated (≥ 3 views)</th><th>frame coverage</th>"
        "<th>marker-frames kept</th><th>median reprojection, views used (px)</th>"
        "<th>… every view that saw it (px)</th><th>observations left out</th><th>bone CV (%)</th>"
        "<th>view-frames flipped</th>"
        f"<th>limb swaps corrected</th></tr>{rows}</table>"
        f"<p>Brief tracks dropped (frames each): {esc(str(qc['dropped_tracks']))}.</p>"
    )
    for name, p in qc["people"].items():
        cams = list(p["per_camera"])
        rows = "".join(
            f"<tr><td>{esc(c)}</td><td>{p['per_camera'][c]['observations']}</td><td>{_f(p['per_camera'][c]['median_px'])}</td>"
            f"<td>{_f(p['per_camera'][c]['p90_px'])}</td></tr>"
            for c in cams
        )
        parts.append(
            f"<h2>{esc(name)}: reprojection error per camera</h2><table><tr><th>camera</th>"
            f"<th>observations used</th><th>median (px)</th><th>90th percentile (px)</th></tr>{rows}</table>"
        )
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
        axes[0].hist(p["error_px_sample"], bins=40, color="#4c72b0")
        axes[0].set_xlabel("marker reprojection error, mean over its views (px)")
        axes[0].set_ylabel("marker-frames")
        names = list(p["kept_per_marker"])
        axes[1].bar(range(len(names)), [100 * p["kept_per_marker"][n] for n in names], color="#55a868")
        axes[1].set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        axes[1].set_ylabel("kept (% of associated frames)")
        parts.append(figure(f"{name}: reprojection errors and points kept", png_data_url(fig)))
    pairs = "".join(
        f"<tr><td>{esc(p['camera'])}</td><td>{esc(p['person'])}</td><td>{100 * p['coverage']:.0f} %</td>"
        f"<td>{'yes' if p['evaluated'] else 'no'}</td></tr>"
        for p in qc["pairs"]
    )
    parts.append(
        "<h2>Camera × person pairs</h2><table><tr><th>camera</th><th>person</th>"
        f"<th>own detection matched</th><th>evaluated</th></tr>{pairs}</table>"
    )
    return html_page(f"reference {qc['session']}", "\n".join(parts))
