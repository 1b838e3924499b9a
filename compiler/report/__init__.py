"""Build reports people read: weight statistics for report.json and the self-contained `report.html`.

`weight_stats(graph_before, graph_after)` summarizes the weights a compression produced into a small JSON-able dict
(the build stores it as report.json's 'weights'); `render_html(out_dir)` renders `report.html` from the build's
JSON files only, so `python -m compiler.report OUT_DIR` can re-render any finished build.
"""

from .html import render_html
from .stats import weight_stats

__all__ = ["render_html", "weight_stats"]
