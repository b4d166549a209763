"""pytest configuration shared by tests/ and the nbval run over book/*.ipynb.

Plotly figures under nbval. A figure's JSON holds its data as arrays, rounded to the precision a
reader can see (``attn_edu.viz`` rounds to 4 decimals and stores plotly.js typed arrays,
``{"dtype": "f4", "bdata": <base64>, "shape": "h, w"}``, in its traces and in its sliders' steps;
they are decoded here and compared as numbers). On another CPU, or with other kernels or
thread counts, a value computed a few ulps differently can land on the other side of a rounding
boundary, so a stored figure and a fresh one may differ by one unit in the last kept decimal: with
thousands of values per figure that happens in practice (measured: 3 of 512 values of one SE
figure under ``ATEN_CPU_CAPABILITY=default``). nbval compares outputs exactly and skips images; a
plotly figure is compared here instead, strictly in everything (traces, text, layout, array
shapes and dtypes) except that an array value may differ by at most :data:`PLOTLY_ATOL` plus
:data:`PLOTLY_RTOL` of its size, about one unit of the 4th decimal. Anything beyond fails as before.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_ATOL = 1.5e-4  # one unit of the 4th decimal (viz rounds there), with room for the float error
PLOTLY_RTOL = 1e-5


def _typed(spec: dict):
    """The values of a plotly typed array (``attn_edu.viz`` stores its maps as rounded ``f4``), as float64."""
    import numpy as np

    from attn_edu.viz import from_typed_array

    return from_typed_array(spec).astype(np.float64)


def _close(a: object, b: object) -> bool:
    """Plotly JSON ``a`` equals ``b``, numbers in arrays within tolerance."""
    import numpy as np

    if isinstance(a, dict) and isinstance(b, dict):
        if "bdata" in a and "bdata" in b:  # plotly's typed array: {"dtype", "bdata", "shape"?}
            if a.keys() != b.keys() or a["dtype"] != b["dtype"] or a.get("shape") != b.get("shape"):
                return False
            x, y = _typed(a), _typed(b)
            return x.shape == y.shape and bool(np.allclose(x, y, rtol=PLOTLY_RTOL, atol=PLOTLY_ATOL, equal_nan=True))
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=PLOTLY_RTOL, abs_tol=PLOTLY_ATOL) or (math.isnan(a) and math.isnan(b))
    return a == b


def _patch_nbval() -> None:
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to patch
        return
    if getattr(IPyNbCell.compare_outputs, "_attn_edu", False):
        return
    original = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        # A fresh figure within tolerance of the stored one counts as the stored one.
        refs = [o for o in ref if PLOTLY_MIME in o.get("data", {})]
        tests = [o for o in test if PLOTLY_MIME in o.get("data", {})]
        if len(refs) == len(tests):
            for r, t in zip(refs, tests):
                if _close(r["data"][PLOTLY_MIME], t["data"][PLOTLY_MIME]):
                    t["data"][PLOTLY_MIME] = r["data"][PLOTLY_MIME]
        return original(self, test, ref, skip_compare)

    compare_outputs._attn_edu = True
    IPyNbCell.compare_outputs = compare_outputs


_patch_nbval()


# Two workers. `make test` runs `pytest -n 2 --dist loadfile` (pytest-xdist): on this project's
# 2-core machines the suite is mostly single-threaded work (strict nbval's kernels run one OpenMP
# thread, pip installs, browsers waiting on pages), so two processes use both cores. Each worker
# gives PyTorch one thread, and so do the kernels and servers it starts: two workers with two
# threads each oversubscribe the cores (measured with three workers: slower than serial, and a
# benchmark cell timed out). A file runs in one worker: a notebook's cells share one kernel, and
# some modules share a venv, a JupyterLab or a benchmark run in module-scoped fixtures. (Finer
# grouping, `--dist loadgroup`, does nothing under pytest 9: xdist 3.8 renames items through
# `_nodeid`, which pytest 9 no longer reads.) The longest files start first, so that no worker is
# left with a long one at the end.
FIRST = ("tests/test_course_students.py", "tests/test_jupyterlab.py", "tests/test_fresh_env.py",
         "tests/test_lab_largest_weights.py", "tests/test_lab_weights.py", "tests/test_browser.py")
"""Test files started before everything else, longest first (about 4, 3, 2½, 2½, 2½ and 2 minutes)."""


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the kernels and servers this worker starts
        import torch

        torch.set_num_threads(1)


def _stored_seconds(path: Path) -> float:
    """How long the notebook took when it was stored (its ``attn_edu.execution`` metadata)."""
    try:
        meta = json.loads(path.read_text())["metadata"]
        return float(meta["attn_edu"]["execution"]["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def pytest_collection_modifyitems(config, items):
    """Under xdist: the longest files first (see above); the order within a file is kept."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    root = Path(str(config.rootpath))
    seconds = {p: _stored_seconds(p) for p in {item.path for item in items if item.path.suffix == ".ipynb"}}

    def order(item) -> tuple:
        rel = item.path.relative_to(root).as_posix()
        if rel in FIRST:
            return (0, FIRST.index(rel))
        if item.path in seconds:
            return (1, -seconds[item.path], rel)
        return (2,)

    items.sort(key=order)  # stable: the tests of a file keep their order
