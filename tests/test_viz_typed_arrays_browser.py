"""plotly.js decodes the typed arrays that attn_edu.viz's sliders swap in (the site's plotly.js, in Chromium).

attn_edu.viz stores each slider step's maps as ``{"dtype": "f4", "bdata": ..., "shape": "h, w"}``
(see :func:`attn_edu.viz.typed_array`). This draws one figure of each explorer with the plotly.js
the site ships (the partial bundle vendored from npm, see :mod:`attn_edu.sphinxext`), moves
its slider by clicking the rail, and checks that the heatmaps now hold the step's numbers, decoded
(``_fullData``, what plotly.js draws and hovers), not the spec object or the first step's.

Needs Debian's Chromium and Playwright (see tests/_chromium.py); no built site.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _chromium import block_outside, chromium, missing

from attn_edu import sphinxext
from attn_edu.viz import from_typed_array, plotly_explorer, plotly_map_slider, plotly_scene_explorer

pytestmark = pytest.mark.browser


def _figures() -> dict:
    rng = np.random.default_rng(0)
    img, imgs = rng.random((32, 48, 3)), rng.random((3, 32, 48, 3))
    return {
        "explorer": plotly_explorer(img, rng.random((2, 3, 8, 12)), [(4, 4), (4, 40), (28, 24)], ["a", "b"]),
        "scene_explorer": plotly_scene_explorer(imgs, rng.random((2, 3, 8, 12)), ["a", "b"]),
        "map_slider": plotly_map_slider(img, rng.random((3, 8, 12)) * [[[1.0]], [[0.05]], [[0.3]]], ["a", "b", "c"]),
    }


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    bundle = sphinxext.vendored_plotly_js(Path(__file__).resolve().parent.parent)
    if not bundle.exists():
        missing(f"{bundle} not found: run `make vendor`")
    root = tmp_path_factory.mktemp("site")
    (root / sphinxext.PLOTLY_JS).parent.mkdir(parents=True)
    (root / sphinxext.PLOTLY_JS).write_bytes(bundle.read_bytes())  # the bundle the site's pages load
    divs = "".join(
        f'<div id="{name}" style="width:640px;height:520px"></div>'
        f'<script>var f = {fig.to_json()}; Plotly.newPlot("{name}", f.data, f.layout);</script>'
        for name, fig in _figures().items())
    (root / "index.html").write_text(f'<html><head><script src="{sphinxext.PLOTLY_JS}"></script></head>'
                                     f"<body>{divs}</body></html>")
    with chromium(tmp_path_factory.mktemp("profile"), viewport={"width": 800, "height": 700}) as ctx:
        tab = ctx.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        outside = block_outside(tab, (root / "index.html").as_uri().rsplit("/", 1)[0])
        tab.goto((root / "index.html").as_uri())
        tab.wait_for_function("document.querySelectorAll('.main-svg').length >= 3")
        yield tab
        assert not errors and not outside, (errors, outside)


def _drawn_z(page, name: str) -> list:
    """The heatmaps' z as plotly.js holds it for drawing (decoded), or the type of what it holds."""
    return page.evaluate(
        "n => document.getElementById(n)._fullData.map(t => t.type !== 'heatmap' ? null :"
        " (Array.isArray(t.z) && t.z.length && t.z[0].length !== undefined ? Array.from(t.z, r => Array.from(r))"
        " : typeof t.z))", name)


@pytest.mark.parametrize("name", ["explorer", "scene_explorer", "map_slider"])
def test_a_slider_step_draws_its_own_decoded_maps(page, name):
    fig = json.loads(_figures()[name].to_json())
    steps = fig["layout"]["sliders"][0]["steps"]
    el = page.locator(f"#{name}")
    el.scroll_into_view_if_needed()
    first = _drawn_z(page, name)
    rail = el.locator(".slider-rail-rect").first.bounding_box()
    page.mouse.click(rail["x"] + rail["width"] - 2, rail["y"] + rail["height"] / 2)   # the last step
    page.wait_for_timeout(300)
    assert page.evaluate(f"document.getElementById('{name}').layout.sliders[0].active") == len(steps) - 1
    args = steps[-1]["args"]
    changed = [(k, from_typed_array(spec)) for k, spec in zip(args[-1], args[0]["z"], strict=True) if spec is not None]
    menus = fig["layout"].get("updatemenus", [])
    for view, (k, want) in enumerate(changed):
        if menus:  # plotly.js computes an invisible trace's data only when it is shown: show view k
            el.locator(".updatemenu-header").first.click()
            el.locator(".updatemenu-dropdown-button").nth(view).click()
            page.wait_for_timeout(300)
        drawn = _drawn_z(page, name)[k]
        assert isinstance(drawn, list), f"{name}: trace {k} holds a {drawn}, not an array"
        np.testing.assert_allclose(np.array(drawn), want, rtol=1e-6, err_msg=f"{name}: trace {k}")
        if isinstance(first[k], list):
            assert not np.allclose(np.array(first[k]), want), f"{name}: trace {k} did not change"
