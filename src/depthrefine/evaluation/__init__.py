"""Evaluation stage: metrics, filter baselines and the HTML reports.

- ``all_metrics``: quality against a known truth (depth error, MPJPE, bone CV, ground, ROM).
- ``observed_metrics``: quality without truth (jitter, bone CV, ground) of a recording.
- ``butterworth_depth``, ``savgol_depth``: the filter baselines on the depth axis.
- ``evaluate_heldout``: the synthetic held-out report (HTML + JSON).
- ``evaluate_recording``, ``render_index``: the per-recording reports and their index.
- ``html_page``, ``figure``: the one HTML shell and figure embedding every report uses.
"""

from depthrefine._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "all_metrics": "metrics",
        "observed_metrics": "metrics",
        "butterworth_depth": "filters",
        "savgol_depth": "filters",
        "evaluate_heldout": "heldout",
        "evaluate_recording": "recording_report",
        "render_index": "recording_report",
        "html_page": "report",
        "figure": "report",
    },
)
