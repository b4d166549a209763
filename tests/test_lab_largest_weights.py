"""The shipped weights of the lab's second task: each file is what its manifest says, and reproduces
its recorded metrics (accuracy exactly, the pointing game and the ablations within TOLERANCE).

A file of its own because it is long (every model at every seed on the 1000 test scenes, each
ablation site a forward of its own): `make test`'s two workers start it early (see conftest.py).
"""

from __future__ import annotations

import pytest

from attn_edu import lab
from attn_edu.lab import store
from attn_edu.lab.evaluate import TOLERANCE
from attn_edu.lab.train import LARGEST_DISTRACTORS, LARGEST_MODELS, LARGEST_SEEDS


@pytest.fixture(scope="module")
def test_scenes():
    return lab.largest_test_scenes(distractors=LARGEST_DISTRACTORS)


def test_every_model_of_the_task_ships_at_every_seed_and_nothing_else():
    shipped = set(store.manifest("largest"))
    assert shipped == {store.key(n, "largest", s) for n in LARGEST_MODELS for s in LARGEST_SEEDS}
    for k, entry in store.manifest("largest").items():
        cfg = lab.TrainConfig.from_dict(entry["config"])
        assert cfg == lab.largest_config(cfg.mechanism, cfg.seed), k  # the recipe, only name and seed vary


@pytest.mark.parametrize("seed", LARGEST_SEEDS)
@pytest.mark.parametrize("name", LARGEST_MODELS)
def test_shipped_weights_reproduce_recorded_metrics(name, seed, test_scenes):
    entry = store.manifest("largest")[store.key(name, "largest", seed)]
    path = store.LARGEST_DIR / entry["file"]
    assert path.stat().st_size == entry["bytes"] <= 1_000_000
    assert store.sha256_file(path) == entry["sha256"]
    got = lab.evaluate_largest(store.load(name, task="largest", seed=seed), test_scenes)
    rec = entry["metrics"]
    assert set(got) == set(rec)
    assert got["accuracy"] == rec["accuracy"]  # a count over the fixed test set
    for metric in set(rec) - {"accuracy", "ablation"}:
        assert got[metric] == pytest.approx(rec[metric], abs=TOLERANCE), metric
    assert set(got.get("ablation", {})) == set(rec.get("ablation", {}))
    for site, value in rec.get("ablation", {}).items():
        assert got["ablation"][site] == pytest.approx(value, abs=TOLERANCE), site
