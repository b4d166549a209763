"""The book's reference run: one full ``python -m attn_edu.bench``, stored with the package.

Timings on a shared machine move from one run to the next, so the cost chapter quotes this stored
run, with the machine, the date and the versions it records, instead of timing everything while
the book builds; a short cell of the chapter measures the reader's machine beside it. Record a new
one on a quiet machine with ``python -m attn_edu.bench --out attn_edu/bench/reference.json``, then
store the notebooks again (``make store-notebooks``). See the book: ``book/cost.ipynb``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .records import RunResult

REFERENCE = Path(__file__).with_name("reference.json")


def load_reference(path: str | Path = REFERENCE) -> RunResult:
    """The stored reference run (a :class:`RunResult` of :data:`attn_edu.bench.FULL`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_reference: no stored benchmark run at {path}; record one with "
                                f"`python -m attn_edu.bench --out {path}`")
    result = RunResult.from_dict(json.loads(path.read_text()))
    if result.floor_warmth is None or not result.allocator or result.sweeps.linear_tokens is None:
        raise ValueError(f"load_reference: {path} is not a full run (made with --quick?); the cost chapter "
                         "needs the floor's warmth, the allocator comparison and the linear sweep")
    return result
