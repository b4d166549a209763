"""The shipped weights of the lab: each file is what the manifest says, and reproduces its recorded metrics.

A file of its own because it is the lab's longest check (26 models on the 500 test scenes, about
2½ minutes): `make test`'s two workers start it early (see conftest.py).
"""

from __future__ import annotations

import pytest

from attn_edu import lab
from attn_edu.lab import store
from attn_edu.lab.evaluate import TOLERANCE, evaluate_model


@pytest.mark.parametrize("name", lab.NAMES)
def test_shipped_weights_reproduce_recorded_metrics(name):
    entry = store.manifest().get(name)
    assert entry is not None, f"no shipped weights for {name}"
    path = store.WEIGHTS_DIR / entry["file"]
    assert path.stat().st_size <= 1_000_000
    assert store.sha256_file(path) == entry["sha256"]
    model = store.load(name)
    assert lab.TrainConfig(**entry["config"]).mechanism == name
    got = evaluate_model(model, None if name == "none" else store.untrained(name))
    rec = entry["metrics"]
    assert set(got) == set(rec)
    for key, value in rec.items():
        if key == "accuracy":  # a count over the fixed test set
            assert got[key] == pytest.approx(value, abs=1e-9), key
        else:
            assert got[key] == pytest.approx(value, abs=TOLERANCE), key
