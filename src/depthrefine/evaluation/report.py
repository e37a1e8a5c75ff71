"""The one HTML shell, table and figure helpers of every report (held-out, per recording,
index, real validation). Reports are single self-contained files: figures are embedded as
PNG data URLs, so a report can be mailed or archived on its own."""

from __future__ import annotations

import base64
import html
import io

STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "td.best{background:#dfd;font-weight:bold}img{max-width:100%}"
)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display on cluster nodes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_data_url(fig, dpi: int = 110) -> str:
    """A matplotlib figure as an embeddable PNG data URL (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def figure(
    title: str, src: str, *, css_class: str = "plot", element_id: str | None = None, alt: str | None = None
) -> str:
    """A titled, embedded image (``src`` a data URL from ``png_data_url``)."""
    ident = f" id='{element_id}'" if element_id else ""
    return (
        f"<h2>{html.escape(title)}</h2><img{ident} class='{css_class}' alt='{html.escape(alt or title)}' src='{src}'>"
    )


def html_page(title: str, body: str) -> str:
    """A complete, self-contained HTML page around ``body`` (already escaped HTML)."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>depthrefine: {html.escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head><body>\n{body}\n</body></html>\n"
    )
