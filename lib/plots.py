"""Figures shared by the notebooks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from lib.cell import Cell

_SHORT = {
    "input": "in", "output": "out", "input_1": "in-1", "conv3x3-bn-relu": "c3", "conv1x1-bn-relu": "c1",
    "maxpool3x3": "mp", "nor_conv_3x3": "c3", "nor_conv_1x1": "c1", "avg_pool_3x3": "ap", "skip_connect": "id",
    "none": "∅", "max_pool_3x3": "mp", "sep_conv_3x3": "s3", "sep_conv_5x5": "s5", "dil_conv_3x3": "d3",
    "dil_conv_5x5": "d5", "skip": "id",
}  # fmt: skip


def _layers(cell: Cell) -> dict[int, int]:
    depth = {}
    for v in cell.topological_order():
        preds = np.flatnonzero(cell.adjacency[:, v])
        depth[v] = 0 if len(preds) == 0 else 1 + max(depth[int(p)] for p in preds)
    return depth


def draw_cell(cell: Cell, ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """Draws a cell left to right by depth, nodes labelled with short operation names."""
    ax = ax or plt.gca()
    graph = nx.DiGraph()
    depth = _layers(cell)
    for v, op in enumerate(cell.ops):
        graph.add_node(v, layer=depth[v])
    graph.add_edges_from(cell.edges())
    pos = nx.multipartite_layout(graph, subset_key="layer")
    colors = ["#9ecae1" if op.startswith("input") else "#fdae6b" if op == "output" else "#c7e9c0" for op in cell.ops]
    nx.draw_networkx(
        graph, pos, ax=ax, node_color=colors, node_size=520, font_size=7, arrowsize=10,
        labels={v: _SHORT.get(op, op[:4]) for v, op in enumerate(cell.ops)},
    )  # fmt: skip
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def draw_cells(cells: Sequence[Cell], titles: Sequence[str] | None = None, ncols: int = 4) -> plt.Figure:
    """A grid of :func:`draw_cell` panels."""
    nrows = max(1, int(np.ceil(len(cells) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < len(cells):
            draw_cell(cells[k], ax, titles[k] if titles else None)
        else:
            ax.set_axis_off()
    fig.tight_layout()
    return fig
