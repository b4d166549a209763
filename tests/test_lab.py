"""The real-image lab: scenes, offline photos, shipped weights and their recorded metrics, training."""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest
import torch

from attn_edu import capture, images, lab
from attn_edu.lab.evaluate import spearman
from attn_edu.lab import scenes as sc
from attn_edu.lab import store
from attn_edu.lab.model import VARIANTS, build
from attn_edu.registry import MECHANISMS


def test_same_seed_same_scenes():
    a = lab.make_scenes(6, seed=3, split="train")
    b = lab.make_scenes(6, seed=3, split="train")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.masks, b.masks)
    c = lab.make_scenes(6, seed=4, split="train")
    assert not torch.equal(a.images, c.images)
    # any scene can be made alone: scenes 2..5 of the stream are the same in a batch starting at 2
    d = lab.make_scenes(4, seed=3, split="train", start=2)
    assert torch.equal(a.images[2:], d.images)


def test_scene_contract():
    s = lab.make_scenes(50, seed=0, split="test")
    assert s.images.shape == (50, 3, 64, 64) and s.images.dtype == torch.float32
    assert 0 <= float(s.images.min()) and float(s.images.max()) <= 1
    for box, mask in zip(s.boxes, s.masks):
        t, l, b, r = box.tolist()
        inside = torch.zeros_like(mask)
        inside[t:b, l:r] = True
        assert mask.any() and not (mask & ~inside).any()  # the mask lies in its box ...
        rows, cols = mask.any(dim=1).nonzero()[:, 0], mask.any(dim=0).nonzero()[:, 0]
        # ... and fills it up to the soft edge: at most one pixel of slack on each side
        assert rows[0] - t <= 1 and b - 1 - rows[-1] <= 1 and cols[0] - l <= 1 and r - 1 - cols[-1] <= 1
    assert set(s.labels.tolist()) == set(range(len(lab.CLASSES)))


def test_scale_and_position_are_controllable():
    s = lab.make_scene(0, scale=0.4, center=(0.25, 0.75), label=2)
    assert s.label == 2 and s.box == (3, 35, 29, 61)
    assert lab.make_scene(0, scale=0.2).box[2] - lab.make_scene(0, scale=0.2).box[0] == 13


def test_train_and_test_backgrounds_are_disjoint(monkeypatch):
    # every background pixel carries its source column: train clutter must come from columns < 80
    cols = np.broadcast_to(np.arange(sc.SOURCE_SIZE, dtype=np.float32)[None, :, None], (sc.SOURCE_SIZE, sc.SOURCE_SIZE, 3))
    monkeypatch.setattr(sc, "_background", lambda name: cols / (sc.SOURCE_SIZE - 1))
    half = (sc.SOURCE_SIZE // 2) / (sc.SOURCE_SIZE - 1)
    for split in ("train", "test"):
        s = lab.make_scenes(40, seed=0, split=split)
        outside = torch.ones_like(s.masks)
        for i, (t, l, b, r) in enumerate(s.boxes.tolist()):
            outside[i, t:b, l:r] = False
        values = s.images[:, 0][outside]
        assert (values < half).all() if split == "train" else (values >= half - 1e-6).all()


def test_photos_load_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    sc._background.cache_clear()
    sc._template.cache_clear()
    for name in images.PHOTOS:
        img = images.load_photo(name, size=32)
        assert img.shape == (32, 32, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
        assert name in images.credits()
    assert lab.make_scene(7).image.shape == (64, 64, 3)
    used = {p for p, _ in sc.OBJECTS.values()} | set(sc.BACKGROUNDS)
    assert used <= set(images.PHOTOS)


def test_checksum_mismatch_names_the_file(tmp_path, monkeypatch):
    shutil.copytree(store.WEIGHTS_DIR, tmp_path / "weights")
    monkeypatch.setattr(store, "WEIGHTS_DIR", tmp_path / "weights")
    m = json.loads((store.WEIGHTS_DIR / "manifest.json").read_text())
    bad = tmp_path / "weights" / m["cbam"]["file"]
    bad.write_bytes(bad.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="cbam.pt"):
        store.load("cbam")


def test_trained_maps_differ_from_untrained():
    s = lab.test_scenes(64)
    for name in ("cbam", "self_attention"):
        _, trained = lab.attention_map(lab.load(name), s.images)
        _, random = lab.attention_map(lab.untrained(name), s.images)
        assert float((1 - spearman(trained, random)).mean()) > 0.3


def test_spearman_gives_tied_values_the_mean_of_their_ranks():
    # against scipy's spearmanr, on rows with many ties (a mask, a map of few levels) and without
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(0)
    a = torch.cat([torch.randint(0, 3, (4, 60), generator=g).double(), torch.randn(2, 60, generator=g).double()])
    b = torch.randn(6, 60, generator=g, dtype=torch.float64)
    want = [spearmanr(a[i].numpy(), b[i].numpy()).statistic for i in range(6)]
    np.testing.assert_allclose(spearman(a, b).numpy(), want, atol=1e-12)
    mask = torch.zeros(1, 64, dtype=torch.float64)
    mask[0, 40:48] = 1  # a binary mask late in the order: ranking its ties by position would correlate it with x
    x = torch.arange(64, dtype=torch.float64)[None]
    assert abs(float(spearman(mask, x)) - spearmanr(mask[0].numpy(), x[0].numpy()).statistic) < 1e-12


def test_short_training_lowers_the_loss():
    cfg = lab.TrainConfig("cbam", seed=0, epochs=1, scenes_per_epoch=30 * 32, batch_size=32, lr=3e-3, threads=1)
    torch.manual_seed(123)
    _, log = lab.train(cfg, progress=False)
    losses = log["losses"]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.1


def test_cli_evaluate_json(capsys):
    from attn_edu.lab.__main__ import main

    assert main(["evaluate", "--json", "--mechanism", "se"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["mechanisms"]) == {"se"} and "class_selectivity" in out["mechanisms"]["se"]


@pytest.mark.parametrize("name", [n for n in MECHANISMS])
def test_untrained_baseline_is_shipped_and_is_the_seeded_initialisation(name):
    entry = store.manifest()[name]
    path = store.WEIGHTS_DIR / entry["untrained_file"]
    assert path.stat().st_size <= 1024 * 1024
    assert store.sha256_file(path) == entry["untrained_file_sha256"]
    shipped = store.untrained(name).state_dict()
    rebuilt = build(name, entry["config"]["seed"]).state_dict()
    assert store.state_sha256(shipped) == store.state_sha256(rebuilt) == entry["untrained_sha256"]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_is_its_mechanism_with_one_setting_changed(name):
    variant = VARIANTS[name]
    model = build(name)
    assert model.name == name and model.mechanism == variant.mechanism
    base_model = build(variant.mechanism)
    base = base_model.attention
    assert type(model.attention) is type(base)
    changed = {k for k in ("reduction", "order", "combine", "dia_val", "normalization", "ratio")
               if getattr(model.attention, k, None) != getattr(base, k, None)}
    if variant.stages != (4,):  # the mechanism after every block, as built by the registry
        assert changed == set()
        assert {k: m.channel for k, m in model.early.items()} == {"1": 32, "2": 64, "3": 64}
    else:
        assert len(changed) == 1, changed
        assert len(model.early) == 0
    # same backbone initialisation as the base model (comparisons isolate the mechanism)
    assert torch.equal(model.backbone[0][0].weight, base_model.backbone[0][0].weight)


def test_se_stages_runs_a_gate_after_every_block():
    model = build("se_stages").eval()
    with capture(model) as maps:
        model(torch.rand(2, 3, 64, 64))
    assert [tuple(m.tensor.shape) for m in maps] == [(2, 32), (2, 64), (2, 64), (2, 64)]


def test_receptive_field_of_the_slot():
    # conv3x3/2, conv3x3/2, conv3x3, conv3x3: 1 + 2 + 2*2 + 2*4 + 2*4 = 23 px, 4 px apart
    assert lab.receptive_field(lab.LabNet("none")) == (23, 4)


def test_unknown_lab_model_is_named():
    with pytest.raises(ValueError, match="LabNet: unknown mechanism 'sse'"):
        lab.LabNet("sse")


def test_training_restores_torch_settings():
    before = torch.get_num_threads()
    cfg = lab.TrainConfig("se", seed=0, epochs=1, scenes_per_epoch=64, batch_size=32, threads=before + 1)
    lab.train(cfg, progress=False, max_steps=1)
    assert torch.get_num_threads() == before
    tiny = torch.tensor([1e-40])  # a float32 denormal: kept unless denormals are flushed
    assert float(tiny) != 0.0


def test_receptive_field_after_the_first_blocks():
    net = lab.LabNet("none")
    assert [lab.receptive_field(net, blocks=b) for b in range(5)] == [(1, 1), (3, 2), (7, 4), (15, 4), (23, 4)]
    for bad in (5, -1, 1.0, True):
        with pytest.raises(ValueError, match="receptive_field: blocks must be a whole number from 0 to 4"):
            lab.receptive_field(net, blocks=bad)


def test_runs_in_worker_processes_give_what_one_process_gives():
    import math

    from attn_edu.lab.runs import pool

    tasks = [(n,) for n in range(3, 8)]
    assert sorted(pool(math.factorial, tasks, 2)) == list(pool(math.factorial, tasks, 1)) == [6, 24, 120, 720, 5040]
