"""Attention maps on photographs: one contract for matplotlib (static) and plotly (interactive).

The contract, used by every chapter:

* ``image``: float RGB in [0, 1], shape ``(H, W, 3)`` (see :func:`attn_edu.images.load_photo`).
* ``attn``: a 2-D map ``(h, w)`` over the same field of view, any resolution; each cell is drawn
  as a block of ``H/h x W/w`` pixels (nearest: a patch-level map is shown as patches, not as a
  smoothed guess). Values are shown as they are, with a colour bar.
* colours: a perceptually uniform map (``magma`` by default), blended over the photo.

Stored compactly: the book stores every figure in its notebook, so the plotly figures carry their
numbers as plotly.js typed arrays (``{"dtype": "f4", "bdata": <base64>, "shape": "h, w"}``, decoded
by plotly.js 2.28 and later: the site's copy of plotly.py's plotly.js and the one of JupyterLab's
and Notebook 7's plotly extension), rounded to :data:`DECIMALS` decimals before the cast to float32,
so that the stored bytes do not depend on a value's last bits. That holds for the traces (plotly.py
6+ stores a trace's numpy arrays so itself) and for the arrays each slider step or menu entry swaps
in (which plotly.py would store as plain lists, one number per line). See :func:`typed_array`.

matplotlib and plotly are imported lazily, so ``import attn_edu`` stays light.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .images import strip

CMAP = "magma"
PLOTLY_CMAP = "Magma"
DECIMALS = 4  # what the hover labels show (``%{z:.4f}``); a map's colours need far less


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


def _check_images(images: object, where: str) -> np.ndarray:
    """A ``(Q, H, W, 3)`` stack of photos, each checked like :func:`_check_image`."""
    imgs = _as_numpy(images, where, 4)
    if imgs.shape[-1] != 3:
        raise ValueError(f"{where}: images must be (Q, H, W, 3) RGB, got shape {imgs.shape}")
    for img in imgs:
        _check_image(img, where)
    return imgs


def compact(a: object, decimals: int = DECIMALS) -> np.ndarray:
    """``a`` rounded to ``decimals`` decimals, as little-endian float32: what a plotly figure stores.

    Rounding first (in float64) makes the stored value a function of the rounded number only, not
    of the last bits of ``a``; float32 keeps 7 significant digits, more than the rounding leaves for
    values below 100. ``-0.0`` becomes ``0.0`` (same value, other bytes).
    """
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    r = np.round(np.asarray(a, dtype=np.float64), decimals) + 0.0  # + 0.0: -0.0 -> 0.0
    return np.ascontiguousarray(r, dtype="<f4")


def typed_array(a: object, decimals: int = DECIMALS) -> dict:
    """A plotly.js typed array of ``a`` (see :func:`compact`): ``{"dtype": "f4", "bdata", "shape"}``.

    For the arrays a slider step or a menu entry passes to ``restyle``/``update``: plotly.py stores
    a trace's numpy arrays this way itself, but turns those in a control's ``args`` into plain lists.
    plotly.js decodes the spec wherever it reads a data array (since 2.28), a control's too.
    """
    v = compact(a, decimals)
    spec = {"dtype": "f4", "bdata": base64.b64encode(v.tobytes()).decode("ascii")}
    if v.ndim > 1:
        spec["shape"] = ", ".join(str(n) for n in v.shape)  # plotly.py's own spelling: "h, w"
    return spec


_PLOTLY_DTYPES = {"f4": "f4", "f8": "f8", "i1": "i1", "u1": "u1", "u1c": "u1", "i2": "i2", "u2": "u2",
                  "i4": "i4", "u4": "u4"}  # plotly.js's typed-array names (all little-endian) -> numpy's


def from_typed_array(spec: dict) -> np.ndarray:
    """The array a plotly.js typed array spec holds (the inverse of :func:`typed_array`)."""
    a = np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<" + _PLOTLY_DTYPES[spec["dtype"]])
    shape = spec.get("shape")
    return a.reshape([int(n) for n in str(shape).split(",")]) if shape is not None else a


def _photo_interpolation(ax, H: int, W: int) -> dict:
    """How to resample a photo of ``H x W`` pixels on ``ax``: ``nearest`` when it is shown at least
    twice its size, as the map over it is (each pixel a block; matplotlib's default smooths an
    enlargement under 3x, which also makes the stored PNG about 3x larger); otherwise matplotlib's
    antialiasing, which a shrunk or barely enlarged photo needs."""
    box = ax.get_window_extent()
    return {"interpolation": "nearest"} if min(box.width / W, box.height / H) >= 2 else {}


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

    The photo is drawn pixel by pixel (``nearest``) when the axis shows it at least twice its size,
    and antialiased otherwise (see :func:`_photo_interpolation`).

    With ``colorbar=True``, a figure that has no layout engine gets the tight one, so that the
    colour bar's label does not run into a neighbouring axis' label; a figure made with
    ``layout="constrained"`` (or another engine) keeps its own.
    """
    img = _check_image(image, "overlay")
    a = _as_numpy(attn, "overlay", 2)
    H, W = img.shape[:2]
    ax.imshow(img, extent=(0, W, H, 0), **_photo_interpolation(ax, H, W))
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
        fig = ax.figure
        if fig.get_layout_engine() is None:
            # Without a layout engine the colour bar takes its room out of this axis' own slot and
            # its label lands in the gap between subplots, where the next axis' label already is
            # (e.g. a bar chart of gates to the right). The tight engine, which the inline backend
            # runs at every draw, makes room for both; a later plt.tight_layout() is compatible.
            fig.set_layout_engine("tight")
        cb = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(label, fontsize=9)
    return shown


def photo(ax, image: object, *, title: str | None = None, box: Sequence[float] | None = None, fontsize: float = 10):
    """Draw a photo on a matplotlib axis, without ticks: the first column of a grid of overlays.

    Drawn as :func:`overlay` draws its photo (pixel by pixel when enlarged at least twice), so a
    scene and the maps over it look alike. ``box``: optional ``(top, left, bottom, right)`` in
    pixels (bottom/right exclusive), drawn as a cyan rectangle (e.g. a lab scene's object box,
    ``scenes.boxes[i].tolist()``). Returns the ``AxesImage``.
    """
    img = _check_image(image, "photo")
    H, W = img.shape[:2]
    shown = ax.imshow(img, extent=(0, W, H, 0), **_photo_interpolation(ax, H, W))
    if box is not None:
        if len(box) != 4:
            raise ValueError(f"photo: box must be (top, left, bottom, right), got {box!r}")
        import matplotlib.patches as mpatches

        top, left, bottom, right = (float(v) for v in box)  # pixel (i, j) spans [j, j + 1] x [i, i + 1] here
        ax.add_patch(mpatches.Rectangle((left, top), right - left, bottom - top, fill=False, color="cyan", lw=1.5))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=fontsize)
    return shown


def image_source(image: object, format: str = "png", quality: int = 85) -> str:
    """A data URI of the photo, for plotly's ``go.Image(source=...)`` (much smaller than JSON).

    ``format="png"`` (default): lossless, the right choice for the lab's small scenes, which the
    figure enlarges pixel by pixel. ``"jpeg"`` (at ``quality``): about 4x smaller for a large
    photograph, e.g. a strip of full-size photos under a translucent map.
    """
    from PIL import Image

    where = "image_source"
    if format not in ("png", "jpeg"):
        raise ValueError(f"{where}: format must be 'png' or 'jpeg', got {format!r}")
    if not (isinstance(quality, int) and 1 <= quality <= 95):
        raise ValueError(f"{where}: quality must be an int in [1, 95], got {quality!r}")
    img = _check_image(image, where)
    buf = io.BytesIO()
    pil = Image.fromarray((img * 255).round().astype(np.uint8))
    if format == "png":
        pil.save(buf, format="PNG", optimize=True)
    else:
        pil.save(buf, format="JPEG", quality=quality, optimize=True)
    return f"data:image/{format};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True)
class ScaleStrip:
    """The top row of a plotly figure whose slider steps through object scales (the SK and PSA
    chapters' "weights vs object scale"): at each scale a strip of example scenes, and on the plot
    below it the training range shaded and the current scale marked.

    Build it with :meth:`of`; give each slider step its :meth:`step_layout`, call :meth:`frame` once
    for the strip's axes and :meth:`layout` once for the rest.
    """

    sources: dict[float, str]
    """Scale -> the strip as a JPEG data URI (:func:`image_source`)."""
    width: int
    height: int
    plot_axis: str
    """The x axis of the plot the shading and the marker go on (``"x2"``, ``"x3"``)."""
    train_range: tuple[float, float]

    @classmethod
    def of(cls, examples: dict[float, Sequence[np.ndarray]], plot_axis: str, train_range: tuple[float, float],
           gap: int = 2) -> ScaleStrip:
        """``examples``: scale -> the ``(H, W, 3)`` scenes shown at that scale, side by side."""
        strips = {s: strip(list(images), gap) for s, images in examples.items()}
        first = next(iter(strips.values()))
        return cls({s: image_source(im, format="jpeg") for s, im in strips.items()}, first.shape[1], first.shape[0],
                   plot_axis, train_range)

    def images(self, scale: float) -> list[dict]:
        """The layout's ``images`` at ``scale``: its strip, filling the top axes."""
        return [{"source": self.sources[scale], "xref": "x", "yref": "y", "x": 0, "y": 0, "sizex": self.width,
                 "sizey": self.height, "sizing": "stretch", "layer": "above"}]

    def shapes(self, scale: float) -> list[dict]:
        """The layout's ``shapes`` at ``scale``: the training range shaded, a dotted line at ``scale``."""
        ref = {"xref": self.plot_axis, "yref": self.plot_axis.replace("x", "y") + " domain", "y0": 0, "y1": 1}
        lo, hi = self.train_range
        return [{"type": "rect", **ref, "x0": lo, "x1": hi, "fillcolor": "rgba(0,0,0,0.07)", "line": {"width": 0},
                 "layer": "below"},
                {"type": "line", **ref, "x0": scale, "x1": scale,
                 "line": {"color": "black", "width": 1, "dash": "dot"}}]

    def step_layout(self, scale: float) -> dict:
        """What a slider step at ``scale`` changes in the layout: ``{"images": ..., "shapes": ...}``."""
        return {"images": self.images(scale), "shapes": self.shapes(scale)}

    def layout(self, fig, steps: list[dict], scale: float, *, title: str, height: int, legend_x: float = 0.01,
               pad_t: int = 55) -> None:
        """Lay ``fig`` out at ``scale``: the strip and the plot's marks, the slider over ``steps`` (its
        current value at ``scale``), the title, a horizontal legend inside the plot (at ``legend_x``)."""
        if scale not in self.sources:
            raise ValueError(f"ScaleStrip.layout: scale must be one of {list(self.sources)}, got {scale!r}")
        fig.update_layout(**self.step_layout(scale), height=height, title={"text": title},
                          legend={"orientation": "h", "y": 0.6, "x": legend_x, "yanchor": "top",
                                  "bgcolor": "rgba(255,255,255,0.7)"},
                          sliders=[{"active": list(self.sources).index(scale), "steps": steps, "pad": {"t": pad_t},
                                    "currentvalue": {"prefix": "object scale: "}}],
                          margin={"l": 60, "r": 20, "t": 60, "b": 40})

    def frame(self, fig, row: int = 1, col: int = 1) -> None:
        """Hide the strip's axes and fit them to it, pixels square."""
        fig.update_xaxes(visible=False, range=[0, self.width], row=row, col=col)
        fig.update_yaxes(visible=False, range=[self.height, 0], scaleanchor="x", row=row, col=col)


def _heatmap(attn: np.ndarray, H: int, W: int, label: str, **kw):
    import plotly.graph_objects as go

    h, w = attn.shape
    return go.Heatmap(
        z=compact(attn),
        x0=W / w / 2 - 0.5, dx=W / w, y0=H / h / 2 - 0.5, dy=H / h,
        colorscale=PLOTLY_CMAP, opacity=0.6,
        hovertemplate="pixel row %{y:.0f}, col %{x:.0f}<br>" + label + " %{z:.4f}<extra></extra>",
        **kw,
    )


def _square_layout(fig, title: str, H: int, W: int, height: int) -> None:
    fig.update_layout(
        title={"text": title}, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"visible": False, "range": [-0.5, W - 0.5]},
        yaxis={"visible": False, "range": [H - 0.5, -0.5], "scaleanchor": "x"},
    )


def _slider(steps: list[dict], prefix: str) -> dict:
    """The explorers' slider over ``steps``. Step names would crowd under the rail: they are shown,
    one at a time, as the current value."""
    return {"active": 0, "steps": steps, "pad": {"t": 10}, "ticklen": 3, "font": {"color": "rgba(0,0,0,0)"},
            "currentvalue": {"prefix": f"{prefix}: ", "font": {"color": "#222", "size": 13}}}


def _slider_and_view_menu(fig, steps: list[dict], view_labels: Sequence[str], prefix: str) -> None:
    """The controls of the explorers: a slider of ``steps`` and a menu that shows one view (trace 1+v)."""
    fig.update_layout(
        sliders=[_slider(steps, prefix)],
        updatemenus=[{
            "type": "dropdown", "x": 0, "y": 1.0, "xanchor": "left", "yanchor": "bottom", "showactive": True,
            "buttons": [{"label": lab, "method": "restyle",
                         "args": [{"visible": [True] + [i == v for i in range(len(view_labels))]}]}
                        for v, lab in enumerate(view_labels)],
        }],
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )


def _per_view_maps(maps: object, where: str) -> list[np.ndarray]:
    """``maps`` as V arrays ``(Q, h_v, w_v)``: from one ``(V, Q, h, w)`` array or a sequence of V 3-D
    arrays with the same Q (each view's maps at its own resolution)."""
    if isinstance(maps, (list, tuple)):
        views = [_as_numpy(v, where, 3) for v in maps]
        if not views or len({v.shape[0] for v in views}) != 1:
            raise ValueError(f"{where}: maps must be V >= 1 arrays (Q, h, w) with the same Q, "
                             f"got shapes {[v.shape for v in views]}")
        return views
    return list(_as_numpy(maps, where, 4))


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
    click_selects_query: bool = False,
    zranges: Sequence[tuple[float, float] | None] | None = None,
):
    """Explore query-dependent maps in a static page: a slider picks the query, a menu the view.

    Args:
        image: ``(H, W, 3)`` RGB in [0, 1].
        maps: ``(V, Q, h, w)``: for each of V views (e.g. head x temperature) and Q queries, a map;
            or a sequence of V ``(Q, h_v, w_v)`` arrays, one per view, each map at its own
            resolution (e.g. attention over keys pooled 2x or 4x: each key is drawn as the block of
            pixels it covers, and the figure stores ``h_v * w_v`` numbers, not ``h * w``).
        queries: the Q query positions ``(row, col)`` in image pixels, marked on the photo.
        view_labels: V names for the menu.
        query_names: Q names shown above the slider (default: the query's pixel row and column).
        click_selects_query: also let a click on the photo pick the nearest query. Off by default.
            It marks the figure in ``layout.meta["attn_edu"]`` (the slider and each step's query
            point ``[x, y] = [col, row]``); in the book's site, the script that
            :mod:`attn_edu.sphinxext` adds to the page moves the slider on ``plotly_click``. Jupyter
            ignores the marker (use the ipywidgets version there).
        zranges: optional V colour ranges ``(zmin, zmax)``, one per view, fixed for all its queries;
            ``None`` (for all views, or for one) leaves that view's range to plotly (each map's
            own min to max). A view whose maps are flat (e.g. an untrained network's uniform
            weights) needs one: plotly stretches a constant map's range to ``z - 0.5 .. z + 0.5``.

    Each view is one heatmap trace (the menu toggles visibility); each slider step updates all
    views' ``z`` and moves the query marker, so both controls compose without a kernel.
    """
    import plotly.graph_objects as go

    img = _check_image(image, "plotly_explorer")
    m = _per_view_maps(maps, "plotly_explorer")
    V, Q = len(m), m[0].shape[0]
    if not isinstance(click_selects_query, bool):
        raise TypeError("plotly_explorer: click_selects_query must be a bool, "
                        f"got {type(click_selects_query).__name__}")
    if len(queries) != Q or len(view_labels) != V:
        raise ValueError(f"plotly_explorer: maps has {V} views x {Q} queries, "
                         f"got {len(view_labels)} labels and {len(queries)} queries")
    zr = [None] * V if zranges is None else list(zranges)
    if len(zr) != V or not all(r is None or (len(r) == 2 and r[0] < r[1]) for r in zr):
        raise ValueError(f"plotly_explorer: zranges must be {V} pairs (zmin, zmax) with zmin < zmax or None, "
                         f"got {zranges}")
    H, W = img.shape[:2]
    traces = [go.Image(source=image_source(img), hoverinfo="skip")]
    for v, r in enumerate(zr):
        zkw = {} if r is None else {"zmin": float(r[0]), "zmax": float(r[1])}
        traces.append(_heatmap(m[v][0], H, W, label, visible=v == 0, name=view_labels[v],
                               colorbar={"title": {"text": label}}, **zkw))
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
         "args": [{"z": [typed_array(m[v][q]) for v in range(V)]}, {"shapes": marker(q)}, list(range(1, V + 1))]}
        for q in range(Q)
    ]
    _slider_and_view_menu(fig, steps, view_labels, query_label)
    if click_selects_query:
        fig.update_layout(meta={"attn_edu": {"click_selects_slider": 0,
                                             "slider_points": [[float(c), float(r)] for r, c in queries]}})
    return fig


def plotly_scene_explorer(
    images: object,
    maps: object,
    view_labels: Sequence[str],
    *,
    scene_names: Sequence[str] | None = None,
    boxes: object | None = None,
    title: str = "",
    label: str = "weight",
    scene_label: str = "scene",
    zrange: tuple[float, float] | None = None,
    height: int = 520,
):
    """Explore maps over several photos in a static page: a slider picks the photo, a menu the view.

    The twin of :func:`plotly_explorer` for maps that depend on the image rather than on a query
    (e.g. a spatial gate on each test scene of the lab, for several trained variants).

    Args:
        images: ``(Q, H, W, 3)``: Q photos, RGB in [0, 1], all the same size.
        maps: ``(V, Q, h, w)``: for each of V views (e.g. model variants) and Q photos, a map.
        view_labels: V names for the menu.
        scene_names: Q names shown above the slider (default ``"1" .. "Q"``).
        boxes: optional ``(Q, 4)`` boxes ``(top, left, bottom, right)`` in pixels (bottom/right
            exclusive), drawn as a cyan rectangle on each photo (e.g. the object's box).
        zrange: optional fixed colour range ``(zmin, zmax)`` shared by every view and photo.

    Each view is one heatmap trace (the menu toggles visibility); each slider step replaces the
    photo (a PNG ``source``), every view's ``z`` and the box, so both controls compose without a kernel.
    """
    import plotly.graph_objects as go

    where = "plotly_scene_explorer"
    imgs = _check_images(images, where)
    m = _as_numpy(maps, where, 4)
    V, Q = m.shape[:2]
    if imgs.shape[0] != Q or len(view_labels) != V:
        raise ValueError(f"{where}: maps has {V} views x {Q} photos, got {imgs.shape[0]} photos and "
                         f"{len(view_labels)} view labels")
    names = [str(q + 1) for q in range(Q)] if scene_names is None else list(scene_names)
    if len(names) != Q:
        raise ValueError(f"{where}: expected {Q} scene names, got {len(names)}")
    bx = None if boxes is None else _as_numpy(boxes, where, 2)
    if bx is not None and bx.shape != (Q, 4):
        raise ValueError(f"{where}: boxes must have shape ({Q}, 4), got {bx.shape}")
    if zrange is not None and not (len(zrange) == 2 and zrange[0] < zrange[1]):
        raise ValueError(f"{where}: zrange must be (zmin, zmax) with zmin < zmax, got {zrange}")
    sources = [image_source(imgs[q]) for q in range(Q)]
    H, W = imgs.shape[1:3]
    zkw = {} if zrange is None else {"zmin": zrange[0], "zmax": zrange[1]}
    traces = [go.Image(source=sources[0], hoverinfo="skip")]
    for v in range(V):
        traces.append(_heatmap(m[v, 0], H, W, label, visible=v == 0, name=view_labels[v],
                               colorbar={"title": {"text": label}}, **zkw))
    fig = go.Figure(traces)
    _square_layout(fig, title, H, W, height)

    def box(q: int) -> list[dict]:
        if bx is None:
            return []
        top, left, bottom, right = bx[q]
        return [{"type": "rect", "x0": left - 0.5, "x1": right - 0.5, "y0": top - 0.5, "y1": bottom - 0.5,
                 "line": {"color": "cyan", "width": 2}}]

    fig.update_layout(shapes=box(0))
    steps = [
        {"method": "update", "label": names[q],
         "args": [{"source": [sources[q]] + [None] * V, "z": [None] + [typed_array(m[v, q]) for v in range(V)]},
                  {"shapes": box(q)}, list(range(V + 1))]}
        for q in range(Q)
    ]
    _slider_and_view_menu(fig, steps, view_labels, scene_label)
    return fig


def plotly_map_slider(
    image: object,
    maps: object,
    names: Sequence[str],
    *,
    title: str = "",
    label: str = "weight",
    slider_label: str = "map",
    scale: str | tuple[float, float] = "own",
    height: int = 520,
):
    """One photo, many maps over it: a slider picks the map (e.g. one memory unit of external attention).

    Args:
        image: ``(H, W, 3)`` RGB in [0, 1] (it may be several photos tiled into one).
        maps: ``(Q, h, w)``: Q maps over the photo.
        names: Q names, shown as the slider's current value.
        scale: the colour range. ``"own"`` (default): each map from ``min(0, its min)`` to its own
            max, so a map that peaks at 0.03 is as readable as one that peaks at 1; the colour bar's
            title says so and its ticks show the map's values. ``"shared"``: one range over all the
            maps. A ``(zmin, zmax)`` pair: that fixed range.

    Each slider step restyles the heatmap's ``z`` (and, with ``"own"``, its ``zmin``/``zmax``), so
    the figure works without a kernel (static site).
    """
    import plotly.graph_objects as go

    where = "plotly_map_slider"
    img = _check_image(image, where)
    m = _as_numpy(maps, where, 3)
    Q = m.shape[0]
    names = [str(n) for n in names]
    if len(names) != Q:
        raise ValueError(f"{where}: expected {Q} names (one per map), got {len(names)}")
    if not np.isfinite(m).all():
        raise ValueError(f"{where}: maps must be finite")
    m = np.round(m, DECIMALS) + 0.0  # as stored (see compact): the ranges are the stored maps', in short decimals
    if isinstance(scale, str):
        if scale == "own":
            ranges = [(min(0.0, float(z.min())), float(z.max())) for z in m]
            ranges = [(lo, hi if hi > lo else lo + 1.0) for lo, hi in ranges]  # a constant map: any range
            suffix = "<br>(0 to this map's max)" if all(lo == 0 for lo, _ in ranges) else "<br>(this map's range)"
        elif scale == "shared":
            lo, hi = min(0.0, float(m.min())), float(m.max())
            ranges = [(lo, hi if hi > lo else lo + 1.0)] * Q
            suffix = ""
        else:
            raise ValueError(f"{where}: scale must be 'own', 'shared' or (zmin, zmax), got {scale!r}")
    elif len(scale) == 2 and scale[0] < scale[1]:
        ranges, suffix = [(float(scale[0]), float(scale[1]))] * Q, ""
    else:
        raise ValueError(f"{where}: scale must be 'own', 'shared' or (zmin, zmax) with zmin < zmax, got {scale!r}")
    H, W = img.shape[:2]
    fig = go.Figure([go.Image(source=image_source(img), hoverinfo="skip"),
                     _heatmap(m[0], H, W, label, zmin=ranges[0][0], zmax=ranges[0][1],
                              colorbar={"title": {"text": label + suffix}})])
    _square_layout(fig, title, H, W, height)
    steps = [{"method": "restyle", "label": names[q],
              "args": [{"z": [typed_array(m[q])], "zmin": [ranges[q][0]], "zmax": [ranges[q][1]]}, [1]]}
             for q in range(Q)]
    fig.update_layout(sliders=[_slider(steps, slider_label)])
    return fig


def plotly_channel_weights(
    images: object,
    weights: object,
    names: Sequence[str],
    *,
    maps: object | None = None,
    marked: Sequence[int] | None = None,
    title: str = "",
    label: str = "channel weight",
    map_label: str = "feature",
    y_range: tuple[float, float] | None = (0.0, 1.0),
    height: int = 420,
):
    """Channel weights (bars) next to the photo they were computed on; a menu picks the photo.

    For the channel mechanisms (SE, ECA, SK, PSA), whose weights range over channels, not pixels.

    Args:
        images: ``(Q, H, W, 3)``: Q photos, RGB in [0, 1], all the same size.
        weights: ``(Q, C)``: the C channel weights each photo gets.
        names: Q names for the menu (e.g. the scene's class and the prediction).
        maps: optional ``(Q, h, w)`` maps drawn over each photo (e.g. the feature map of the
            top-weighted channel), with a colour bar titled ``map_label``.
        marked: optional Q channel indices, one per photo, drawn in another colour (e.g. the
            channel whose map is shown).
        y_range: fixed range of the weight axis (default ``(0, 1)``, a sigmoid gate); ``None``: automatic.
        height: figure height in pixels; raised to ``36 Q + 130`` if smaller, so that the opened
            menu fits in the figure (plotly would otherwise scroll the list and hide its first entries).

    Each photo is an image trace, an optional heatmap trace and a bar trace; the menu toggles
    which photo's traces are visible, so the figure works without a kernel (static site).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    where = "plotly_channel_weights"
    imgs = _check_images(images, where)
    w = _as_numpy(weights, where, 2)
    Q, C = w.shape
    if imgs.shape[0] != Q:
        raise ValueError(f"{where}: weights has {Q} rows (photos) but images has {imgs.shape[0]} photos")
    names = list(names)
    if len(names) != Q:
        raise ValueError(f"{where}: expected {Q} names, got {len(names)}")
    m = None if maps is None else _as_numpy(maps, where, 3)
    if m is not None and m.shape[0] != Q:
        raise ValueError(f"{where}: maps must have one (h, w) map per photo, {Q}, got shape {m.shape}")
    if marked is not None:
        marked = list(marked)
        if len(marked) != Q or not all(isinstance(c, (int, np.integer)) and 0 <= c < C for c in marked):
            raise ValueError(f"{where}: marked must be {Q} channel indices in [0, {C}), got {marked}")
    if y_range is not None and not (len(y_range) == 2 and y_range[0] < y_range[1]):
        raise ValueError(f"{where}: y_range must be (low, high) with low < high or None, got {y_range}")
    H, W = imgs.shape[1:3]
    height = max(int(height), 36 * Q + 130)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.36, 0.64], horizontal_spacing=0.2)
    cb_x = fig.layout.xaxis.domain[1] + 0.01  # the map's colour bar: right of the photo, clear of the bars' axis title
    per = 2 if m is None else 3  # traces per photo: image, (map), bars
    for q in range(Q):
        fig.add_trace(go.Image(source=image_source(imgs[q]), visible=q == 0, name=names[q],
                               hoverinfo="skip" if m is not None else None), row=1, col=1)
        if m is not None:
            fig.add_trace(_heatmap(m[q], H, W, map_label, visible=q == 0, name=names[q], showscale=True,
                                   colorbar={"title": {"text": map_label}, "x": cb_x, "xanchor": "left", "len": 0.8,
                                             "thickness": 12}),
                          row=1, col=1)
        colours = ["#1f77b4"] * C
        if marked is not None:
            colours[marked[q]] = "#ff7f0e"
        fig.add_trace(go.Bar(x=np.arange(C), y=compact(w[q]), marker={"color": colours}, visible=q == 0,
                             name=names[q], hovertemplate="channel %{x}<br>" + label + " %{y:.3f}<extra></extra>"),
                      row=1, col=2)
    fig.update_xaxes(visible=False, range=[-0.5, W - 0.5], row=1, col=1)
    fig.update_yaxes(visible=False, range=[H - 0.5, -0.5], scaleanchor="x", row=1, col=1)
    fig.update_xaxes(title_text="channel", row=1, col=2)
    fig.update_yaxes(title_text=label, range=None if y_range is None else list(y_range), row=1, col=2)
    buttons = [{"label": names[q], "method": "update",
                "args": [{"visible": [i // per == q for i in range(per * Q)]},
                         {"title.text": f"{title}: {names[q]}" if title else names[q]}]}
               for q in range(Q)]
    fig.update_layout(
        title={"text": f"{title}: {names[0]}" if title else names[0]}, height=height, showlegend=False,
        margin={"l": 10, "r": 10, "t": 90, "b": 40}, bargap=0.15,
        updatemenus=[{"type": "dropdown", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom",
                      "showactive": True, "buttons": buttons}],
    )
    return fig


def plot_channel_examples(examples, *, which: str | Sequence[int] = "scenes", label: str = "gate",
                          map_label: str = "feature (before gate)", row_height: float = 1.8):
    """A lab model's channel gates on its examples, one row per example: the marked channel's
    feature map over the image (left) and all C gates as bars, the marked one in orange (right).

    The static figure of the SE and ECA chapters (``book/se.ipynb`` and ``book/eca.ipynb``, "On
    real photographs"); :func:`plotly_channel_weights` is the interactive one of the same examples.
    The bar charts share their channel axis, so a channel lines up from one row to the next. The
    figure is 8.8 inches wide: with the 0.1-inch pads of a tight bounding box, at most 900 px at 100 dpi,
    the book's column.

    Args:
        examples: a :class:`attn_edu.lab.ChannelExamples`, ``lab.channel_examples(model, scenes)``.
        which: ``"scenes"`` (the test scenes, one per class), ``"photos"`` (the class photos),
            ``"all"``, or the indices of the examples to draw.
        label: the label of the gate axis (e.g. ``"SE gate $s_c$"``).
        map_label: the label of the feature map's colour bar.
        row_height: inches per row.

    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from .lab import ChannelExamples

    where = "plot_channel_examples"
    if not isinstance(examples, ChannelExamples):
        raise TypeError(f"{where}: expected an attn_edu.lab.ChannelExamples (lab.channel_examples(model, scenes)), "
                        f"got {type(examples).__name__}")
    n = len(examples.names)
    picks = {"scenes": range(examples.n_scenes), "photos": range(examples.n_scenes, n), "all": range(n)}
    if isinstance(which, str):
        if which not in picks:
            raise ValueError(f"{where}: which must be 'scenes', 'photos', 'all' or indices, got {which!r}")
        rows = list(picks[which])
    else:
        rows = list(which)
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < n for i in rows):
            raise ValueError(f"{where}: which must hold indices of the {n} examples, got {rows}")
    if not rows:
        raise ValueError(f"{where}: no example to draw for which={which!r} ({examples.n_scenes} scenes of {n})")
    if not (isinstance(row_height, (int, float)) and row_height > 0):
        raise ValueError(f"{where}: row_height must be a positive number of inches, got {row_height!r}")
    gates = _as_numpy(examples.gates, where, 2)
    maps = _as_numpy(examples.marked_maps, where, 3)
    C = gates.shape[1]
    fig, axes = plt.subplots(len(rows), 2, figsize=(8.8, row_height * len(rows) + 0.3), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 3.3]}, layout="constrained")
    for r, i in enumerate(rows):
        c = int(examples.marked[i])
        overlay(axes[r, 0], examples.images[i], maps[i], title=f"channel {c}", label=map_label)
        bars = axes[r, 1]
        if r:
            bars.sharex(axes[0, 1])
        bars.bar(np.arange(C), gates[i], width=0.9, color=["tab:orange" if k == c else "tab:blue" for k in range(C)])
        bars.set(ylim=(0, 1.02), yticks=[0, 0.5, 1], xlim=(-0.8, C - 0.2))
        bars.set_ylabel(label, fontsize=9)
        bars.set_title(examples.names[i], fontsize=9)
        bars.tick_params(labelsize=9, labelbottom=r == len(rows) - 1)
    axes[-1, 1].set_xlabel("channel", fontsize=9)
    return fig


def plot_scaling(cost, slopes: dict[str, tuple[float, float]], *, xlabel: str, what: str,
                 styles: Sequence[str] = ("o-", "s--", "^:", "d-.")):
    """Time and peak memory against size on log-log axes, side by side, each candidate's fitted
    exponent in its legend: ``cost`` a :class:`attn_edu.measure.Scaling`, ``slopes`` its
    :meth:`~attn_edu.measure.Scaling.slopes`; ``what`` names the size in the titles ("tokens").
    Returns the figure."""
    import matplotlib.pyplot as plt

    if set(slopes) != set(cost.ms):
        raise ValueError(f"plot_scaling: slopes for {sorted(slopes)}, but the sweep timed {sorted(cost.ms)}")
    if len(styles) < len(cost.ms):
        raise ValueError(f"plot_scaling: {len(cost.ms)} candidates but {len(styles)} line styles")
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.6))  # the book's column: 9 inches at 100 dpi
    for (k, ms), style in zip(cost.ms.items(), styles, strict=False):
        ax_t.loglog(cost.sizes, ms, style, label=f"{k} (slope {slopes[k][0]:.2f})")
        ax_m.loglog(cost.sizes, cost.mib[k], style, label=f"{k} (slope {slopes[k][1]:.2f})")
    ax_t.set(xlabel=xlabel, ylabel="time per call (ms)", title=f"time vs {what}")
    ax_m.set(xlabel=xlabel, ylabel="peak memory (MiB)", title=f"peak memory vs {what}")
    for ax in (ax_t, ax_m):
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    return fig
