"""Attention maps on photographs: one contract for matplotlib (static) and plotly (interactive).

The contract, used by every chapter:

* ``image``: float RGB in [0, 1], shape ``(H, W, 3)`` (see :func:`attn_edu.images.load_photo`).
* ``attn``: a 2-D map ``(h, w)`` over the same field of view, any resolution; each cell is drawn
  as a block of ``H/h x W/w`` pixels (nearest: a patch-level map is shown as patches, not as a
  smoothed guess). Values are shown as they are, with a colour bar.
* colours: a perceptually uniform map (``magma`` by default), blended over the photo.

matplotlib and plotly are imported lazily, so ``import attn_edu`` stays light.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import torch

CMAP = "magma"
PLOTLY_CMAP = "Magma"


def _as_numpy(a: object, where: str, ndim: int) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{where}: expected a {ndim}-D array, got shape {a.shape}")
    return a


def _check_image(image: object, where: str) -> np.ndarray:
    img = _as_numpy(image, where, 3)
    if img.shape[2] != 3:
        raise ValueError(f"{where}: image must be (H, W, 3) RGB, got shape {img.shape}")
    if img.min() < 0 or img.max() > 1:
        raise ValueError(f"{where}: image values must lie in [0, 1], got [{img.min():.3g}, {img.max():.3g}]")
    return img


def overlay(
    ax,
    image: object,
    attn: object,
    *,
    title: str | None = None,
    alpha: float = 0.6,
    cmap: str = CMAP,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    label: str = "attention weight",
    marker: tuple[float, float] | None = None,
):
    """Draw ``attn`` over ``image`` on a matplotlib axis; return the map's ``AxesImage``.

    Args:
        ax: a matplotlib Axes.
        image: ``(H, W, 3)`` RGB in [0, 1].
        attn: ``(h, w)`` map over the same field of view.
        marker: optional ``(row, col)`` in image pixels, drawn as a cross (e.g. the query).
    """
    img = _check_image(image, "overlay")
    a = _as_numpy(attn, "overlay", 2)
    H, W = img.shape[:2]
    ax.imshow(img, extent=(0, W, H, 0))
    shown = ax.imshow(a, extent=(0, W, H, 0), cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax, interpolation="nearest")
    if marker is not None:
        ax.plot([marker[1]], [marker[0]], marker="+", color="cyan", markersize=14, markeredgewidth=2.5)
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        cb = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(label, fontsize=9)
    return shown


def image_source(image: object) -> str:
    """A PNG data URI of the photo, for plotly's ``go.Image(source=...)`` (much smaller than JSON)."""
    from PIL import Image

    img = _check_image(image, "image_source")
    buf = io.BytesIO()
    Image.fromarray((img * 255).round().astype(np.uint8)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _heatmap(attn: np.ndarray, H: int, W: int, **kw):
    import plotly.graph_objects as go

    h, w = attn.shape
    return go.Heatmap(
        z=np.round(attn, 4),
        x0=W / w / 2 - 0.5, dx=W / w, y0=H / h / 2 - 0.5, dy=H / h,
        colorscale=PLOTLY_CMAP, opacity=0.6, hovertemplate="pixel row %{y:.0f}, col %{x:.0f}<br>weight %{z:.4f}<extra></extra>",
        **kw,
    )


def plotly_overlay(image: object, attn: object, *, title: str = "", label: str = "weight", height: int = 420):
    """An interactive (hover) figure of ``attn`` over ``image``: the plotly twin of :func:`overlay`."""
    import plotly.graph_objects as go

    img = _check_image(image, "plotly_overlay")
    a = _as_numpy(attn, "plotly_overlay", 2)
    H, W = img.shape[:2]
    fig = go.Figure([go.Image(source=image_source(img), hoverinfo="skip"), _heatmap(a, H, W, colorbar={"title": {"text": label}})])
    _square_layout(fig, title, H, W, height)
    return fig


def _square_layout(fig, title: str, H: int, W: int, height: int) -> None:
    fig.update_layout(
        title={"text": title}, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"visible": False, "range": [-0.5, W - 0.5]},
        yaxis={"visible": False, "range": [H - 0.5, -0.5], "scaleanchor": "x"},
    )


def plotly_explorer(
    image: object,
    maps: object,
    queries: Sequence[tuple[float, float]],
    view_labels: Sequence[str],
    *,
    query_names: Sequence[str] | None = None,
    title: str = "",
    label: str = "weight",
    query_label: str = "query",
    height: int = 520,
):
    """Explore query-dependent maps in a static page: a slider picks the query, a menu the view.

    Args:
        image: ``(H, W, 3)`` RGB in [0, 1].
        maps: ``(V, Q, h, w)``: for each of V views (e.g. head x temperature) and Q queries, a map.
        queries: the Q query positions ``(row, col)`` in image pixels, marked on the photo.
        view_labels: V names for the menu.
        query_names: Q names shown above the slider (default: the query's pixel row and column).

    Each view is one heatmap trace (the menu toggles visibility); each slider step updates all
    views' ``z`` and moves the query marker, so both controls compose without a kernel.
    """
    import plotly.graph_objects as go

    img = _check_image(image, "plotly_explorer")
    m = _as_numpy(maps, "plotly_explorer", 4)
    V, Q = m.shape[:2]
    if len(queries) != Q or len(view_labels) != V:
        raise ValueError(f"plotly_explorer: maps has {V} views x {Q} queries, got {len(view_labels)} labels and {len(queries)} queries")
    H, W = img.shape[:2]
    traces = [go.Image(source=image_source(img), hoverinfo="skip")]
    for v in range(V):
        traces.append(_heatmap(m[v, 0], H, W, visible=v == 0, name=view_labels[v], colorbar={"title": {"text": label}}))
    fig = go.Figure(traces)
    _square_layout(fig, title, H, W, height)

    def marker(q: int) -> list[dict]:
        r, c = queries[q]
        return [{"type": "circle", "x0": c - 5, "x1": c + 5, "y0": r - 5, "y1": r + 5,
                 "line": {"color": "cyan", "width": 3}}]

    fig.update_layout(shapes=marker(0))
    names = query_names or [f"row {r:.0f}, col {c:.0f}" for r, c in queries]
    steps = [
        {"method": "update", "label": names[q],
         "args": [{"z": [np.round(m[v, q], 4) for v in range(V)]}, {"shapes": marker(q)}, list(range(1, V + 1))]}
        for q in range(Q)
    ]
    fig.update_layout(
        # Step names would crowd under the rail: they are shown, one at a time, as the current value.
        sliders=[{"active": 0, "steps": steps, "pad": {"t": 10}, "ticklen": 3, "font": {"color": "rgba(0,0,0,0)"},
                  "currentvalue": {"prefix": f"{query_label}: ", "font": {"color": "#222", "size": 13}}}],
        updatemenus=[{
            "type": "dropdown", "x": 0, "y": 1.0, "xanchor": "left", "yanchor": "bottom", "showactive": True,
            "buttons": [{"label": lab, "method": "restyle", "args": [{"visible": [True] + [i == v for i in range(V)]}]}
                        for v, lab in enumerate(view_labels)],
        }],
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )
    return fig
