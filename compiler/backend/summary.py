"""The build report's `backend` section: what the hls4ml project does with each ternary layer, read back from
the generated firmware (issue #5: the ternary layers must use hls4ml's multiplier-free `weight_ternary`
product), with the types chosen for it and the error of rounding its scales and biases to them."""

from __future__ import annotations

from pathlib import Path

from ..ir import Graph
from .hls4ml_project import firmware_products
from .precision import Fixed, is_ternary, scale_quantization

MULTIPLIER_FREE = "weight_ternary"


def backend_summary(graph: Graph, precisions: dict[str, dict[str, Fixed]], hls_names: dict[str, str],
                    project_dir: Path) -> dict:
    """{'ternary_layers': [...], 'all_ternary_multiplier_free': bool} for the written project in project_dir."""
    products = firmware_products(project_dir)
    rows = []
    for node in graph.nodes:
        if not is_ternary(node):
            continue
        p = precisions[node.name]
        kinds = products.get(node.name, [])
        rows.append({"layer": node.name, "hls4ml_layer": node.name, "scale_layer": hls_names[node.name],
                     "product": kinds[0] if len(kinds) == 1 else kinds,
                     "multiplier_free": kinds == [MULTIPLIER_FREE],
                     "scale_stage_product": products.get(hls_names[node.name], []),
                     "types": {k: v.hls() for k, v in p.items()},
                     **scale_quantization(node, p)})
    return {"ternary_layers": rows,
            "all_ternary_multiplier_free": all(r["multiplier_free"] for r in rows)}
