"""pytest configuration shared by tests/ and the nbval run over book/*.ipynb.

Plotly figures under nbval. A figure's JSON holds its data as arrays, rounded to the precision a
reader can see (``attn_edu.viz`` rounds to 4 decimals). On another CPU, or with other kernels or
thread counts, a value computed a few ulps differently can land on the other side of a rounding
boundary, so a stored figure and a fresh one may differ by one unit in the last kept decimal: with
thousands of values per figure that happens in practice (measured: 3 of 512 values of one SE
figure under ``ATEN_CPU_CAPABILITY=default``). nbval compares outputs exactly and skips images; a
plotly figure is compared here instead, strictly in everything (traces, text, layout, array
shapes and dtypes) except that an array value may differ by at most :data:`PLOTLY_ATOL` plus
:data:`PLOTLY_RTOL` of its size, about one unit of the 4th decimal. Anything beyond fails as before.
"""

from __future__ import annotations

import base64
import math

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_ATOL = 1.5e-4  # one unit of the 4th decimal (viz rounds there), with room for the float error
PLOTLY_RTOL = 1e-5


def _close(a: object, b: object) -> bool:
    """Plotly JSON ``a`` equals ``b``, numbers in arrays within tolerance."""
    import numpy as np

    if isinstance(a, dict) and isinstance(b, dict):
        if "bdata" in a and "bdata" in b:  # plotly's typed array: {"dtype", "bdata", "shape"?}
            if a.get("dtype") != b.get("dtype") or a.get("shape") != b.get("shape"):
                return False
            x = np.frombuffer(base64.b64decode(a["bdata"]), dtype=a["dtype"])
            y = np.frombuffer(base64.b64decode(b["bdata"]), dtype=b["dtype"])
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
