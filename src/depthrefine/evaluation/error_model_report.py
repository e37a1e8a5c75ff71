"""The ``fit_error_model`` stage: the monocular error model fitted on the fitting pairs of the
real validation (raw BlazePose vs the reference, each in its camera's frame), then drawn on
those pairs' own reference motion and compared with the real residuals — distributions,
spectra, per marker — on a page, with the parameters as a config block to paste
(docs/model.md, "The fitted error model")."""

from __future__ import annotations

import fnmatch
import json
import logging
from pathlib import Path

import numpy as np

from depthrefine.evaluation.error_fit import SIMULATIONS, decompose_pair, fit_parameters, pair_residuals, spectrum
from depthrefine.markers.monocular import MonocularErrors, whole_limbs

log = logging.getLogger(__name__)


def is_fit_pair(recording: str, patterns: list[str]) -> bool:
    """Whether a camera × person recording ('session@camera@person') is one the error model
    (and any model selection) may see; the others are the held-out pairs."""
    return any(fnmatch.fnmatchcase(recording, p) for p in patterns)


def residual_stats(res: np.ndarray, fps: float, names: list[str]) -> dict:
    """Depth error (mean |residual|), jitter (mean |second difference|), per-marker RMS (mm)
    and the spectrum of a residual (F, M) or a stack of them (S, F, M)."""
    stack = res if res.ndim == 3 else res[None]
    second = np.diff(stack, n=2, axis=1)
    freq, psd = spectrum([stack], fps)
    seen = np.isfinite(stack).any(axis=(0, 1))  # a marker the reference never has (one pair's wrist)
    rms = np.full(len(names), np.nan)
    rms[seen] = np.sqrt(np.nanmean(stack[..., seen] ** 2, axis=(0, 1))) * 1000
    return {
        "depth_mm": float(np.nanmean(np.abs(stack)) * 1000),
        "jitter_mm": float(np.nanmean(np.abs(second)) * 1000),
        "per_marker_rms_mm": {n: float(v) if np.isfinite(v) else None for n, v in zip(names, rms)},
        "psd_freq_hz": freq.tolist(),
        "psd_mm2_per_hz": (psd * 1e6).tolist(),
        "values_mm": (stack[np.isfinite(stack)] * 1000).tolist(),
    }


def load_pairs(markers: list[str], references: list[str], ms) -> dict[str, tuple]:
    """recording name → (raw markers, reference in the camera frame, both (F, M, 3) over the
    same frames, fps), the markers checked to be the marker set's."""
    from depthrefine.multiview.stages import read_reference_parquet
    from depthrefine.tables import read_observations

    pairs = {}
    for marker_path, reference_path in zip(markers, references):
        observed, _, _, meta = read_observations(marker_path)
        if json.loads(meta["markers"]) != ms.names:
            raise ValueError(
                f"{marker_path}: markers {meta['markers']} are not the marker set {ms.name!r}'s {ms.names}"
            )
        reference = read_reference_parquet(reference_path)[0]
        n = min(len(observed), len(reference))
        pairs[Path(marker_path).stem] = (observed[:n], reference[:n], float(meta["fps"]))
    return pairs


def fit_error_model(
    markers: list[str],
    references: list[str],
    markerset_path: str,
    *,
    fit_pairs: list[str],
    configured: dict,
    seed: int,
    out_yaml: str,
    out_json: str,
    out_html: str,
    out_png: str,
) -> dict:
    """Fit on the pairs matching ``fit_pairs`` (their recordings' names), compare with the real
    residuals of every pair (fitting and held out), and write the parameters (YAML, a
    ``corruption.monocular`` block), the numbers (JSON), the page (HTML) and its figure (PNG,
    the one in docs/model.md)."""
    import yaml

    from depthrefine.evaluation.report import html_page, png_data_url
    from depthrefine.io import atomic_path, atomic_write_text
    from depthrefine.markers.markersets import load_markerset
    from depthrefine.mocap.anatomy import SEGMENT_PARENTS

    ms = load_markerset(markerset_path)
    names = ms.names
    pelvis = (names.index(ms.pelvis_markers["left"]), names.index(ms.pelvis_markers["right"]))
    limbs = whole_limbs([m.frame for m in ms.markers], SEGMENT_PARENTS)
    pairs = load_pairs(markers, references, ms)
    fitting = [r for r in pairs if is_fit_pair(r, fit_pairs)]
    fps = pairs[(fitting or list(pairs))[0]][2]
    parts = {r: decompose_pair(*pairs[r][:2], fps, names=names, pelvis=pelvis, limbs=limbs) for r in fitting}
    if fitting:
        params, notes, scores = fit_parameters(
            list(parts.values()), fps, [pairs[r][:2] for r in fitting], pelvis=pelvis, limbs=limbs, names=names,
            seed=seed,
        )  # fmt: skip
        best = min(scores.values())
        log.info("error model: spectrum match %.3f (grid %d, worst %.3f)", best, len(scores), max(scores.values()))
        for note in notes:
            log.info("error model: %s", note)
    else:
        # Sessions other than the one the config's parameters were fitted on (a held-out clip):
        # nothing to fit; every pair is compared with the configured model instead.
        params, scores, best = MonocularErrors.from_dict(configured), {}, None
        notes = [
            f"no pair matches error_model_fit_pairs {list(fit_pairs)}: nothing was fitted; the configured "
            "parameters (corruption.monocular) are compared with every pair"
        ]
        log.warning("error model: %s", notes[0])
    compared = {}
    for r, (observed, reference, _) in pairs.items():
        res = pair_residuals(observed, reference, fps, params, pelvis=pelvis, limbs=limbs, names=names, seed=seed)
        compared[r] = {
            "fitting": r in fitting,
            "real": residual_stats(res["real"], fps, names),
            "synthetic": residual_stats(res["synthetic"], fps, names),
        }
    result = {
        "fit_pairs": fitting,
        "held_out_pairs": [r for r in pairs if r not in fitting],
        "parameters": params.to_dict(),
        "configured": configured,
        "notes": notes,
        "spectrum_match": {"best": best, "grid": [[*k, v] for k, v in scores.items()]},
        "per_pair": {
            r: {
                "lag_frames": p["lag_frames"],
                "yaw_median_deg": float(np.nanmedian(p["yaw_deg"])),
                "swapped_fraction": p["swapped_fraction"],
                "body_depth_scale": p["body_scale"],
                "limb_offsets_mm": {q["root"]: float(np.nanmean(q["offset"]) * 1000) for q in p["limbs"]},
                "jitter_mm": p["jitter_m"] * 1000,
                "marker_noise_mm": p["marker_noise_m"] * 1000,
            }
            for r, p in parts.items()
        },
        "comparison": {r: {k: _summary(v[k]) if k != "fitting" else v[k] for k in v} for r, v in compared.items()},
    }
    block = {"corruption": {"monocular": {k: float(f"{v:.4g}") for k, v in params.to_dict().items()}}}
    origin = (
        f"# Fitted on {', '.join(fitting)} (raw BlazePose vs the multi-camera reference).\n"
        if fitting
        else f"# Not fitted: no pair matches error_model_fit_pairs {list(fit_pairs)}; the configured parameters.\n"
    )
    atomic_write_text(
        out_yaml,
        origin
        + "# Paste into config/config.yaml or pass with --configfile; docs/model.md explains each.\n"
        + yaml.safe_dump(block, sort_keys=False),
    )
    atomic_write_text(out_json, json.dumps(result, indent=2) + "\n")
    fig = comparison_figure(compared, names)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    atomic_write_text(out_html, html_page("Monocular error model", _page(result, compared, png_data_url(fig))))
    log.info("error model fitted on %d pairs, compared on %d", len(fitting), len(pairs))
    return result


def _summary(stats: dict) -> dict:
    """The JSON's part of residual_stats (no raw values)."""
    return {k: v for k, v in stats.items() if k != "values_mm"}


def _page(result: dict, compared: dict, figure_url: str) -> str:
    import html

    from depthrefine.evaluation.report import figure

    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td><td>{result['configured'].get(k, float('nan')):.4g}</td></tr>"
        for k, v in result["parameters"].items()
    )
    pair_rows = "".join(
        f"<tr><td>{html.escape(r)}</td><td>{'fitting' if c['fitting'] else 'held out'}</td>"
        f"<td>{c['real']['depth_mm']:.1f}</td><td>{c['synthetic']['depth_mm']:.1f}</td>"
        f"<td>{c['real']['jitter_mm']:.1f}</td><td>{c['synthetic']['jitter_mm']:.1f}</td></tr>"
        for r, c in compared.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result["notes"])
    fitted_on = (
        f"Fitted on {len(result['fit_pairs'])} pairs ({html.escape(', '.join(result['fit_pairs']))})"
        if result["fit_pairs"]
        else "Nothing fitted: no pair matches error_model_fit_pairs (both columns hold the configured parameters)"
    )
    return (
        "<h1>Monocular error model: fitted to real residuals</h1>"
        f"<p>{fitted_on}; "
        f"held out: {html.escape(', '.join(result['held_out_pairs']) or 'none')}. Residual = hip-relative depth of "
        f"raw BlazePose − the reference's; synthetic = the model drawn {SIMULATIONS}× on each pair's reference.</p>"
        "<h2>Parameters</h2><table id='parameters'><tr><th>parameter</th><th>fitted</th><th>in the config</th></tr>"
        f"{rows}</table>" + (f"<ul>{notes}</ul>" if notes else "") + "<h2>Real and synthetic residuals per pair</h2>"
        "<table id='pairs'><tr><th>pair</th><th></th><th>depth error real (mm)</th><th>synthetic</th>"
        f"<th>jitter real (mm)</th><th>synthetic</th></tr>{pair_rows}</table>"
        + figure("Residuals: distribution, spectrum, per marker", figure_url, element_id="residual-figure")
    )  # fmt: skip


def comparison_figure(compared: dict, names: list[str]):
    """Three panels, real vs synthetic over the fitting pairs: |residual| distribution, mean
    spectrum, per-marker RMS."""
    from depthrefine.evaluation.report import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    fitting = [c for c in compared.values() if c["fitting"]] or list(compared.values())
    for kind, colour in (("real", "#1f77b4"), ("synthetic", "#ff7f0e")):
        values = np.concatenate([c[kind]["values_mm"] for c in fitting])
        axes[0].hist(values, bins=np.linspace(-500, 500, 81), density=True, histtype="step", color=colour, label=kind)
        spectra = [c[kind] for c in fitting if c[kind]["psd_freq_hz"]]
        n = min(len(s["psd_freq_hz"]) for s in spectra)
        psd = np.mean([s["psd_mm2_per_hz"][:n] for s in spectra], axis=0)
        axes[1].semilogy(spectra[0]["psd_freq_hz"][:n], psd, color=colour, label=kind)
        known = [[v for c in fitting if (v := c[kind]["per_marker_rms_mm"][m]) is not None] for m in names]
        rms = [np.mean(vs) if vs else np.nan for vs in known]
        offset = -0.2 if kind == "real" else 0.2
        axes[2].bar(np.arange(len(names)) + offset, rms, width=0.4, color=colour, label=kind)
    axes[0].set(xlabel="hip-relative depth residual (mm)", ylabel="density", title="distribution")
    axes[1].set(xlabel="frequency (Hz)", ylabel="PSD (mm²/Hz)", title="spectrum (mean over markers)")
    axes[2].set(ylabel="RMS depth residual (mm)", title="per marker")
    axes[2].set_xticks(np.arange(len(names)), names, rotation=70, fontsize=8)
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    return fig
