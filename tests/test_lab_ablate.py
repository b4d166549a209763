"""Ablation sites (attn_edu.ablate), the second task's controls, configs and store (#19)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attn_edu import ablate, lab, per_image_mean, registry
from attn_edu.lab import store
from attn_edu.lab.evaluate import ablation_accuracy, evaluate_largest, sites
from attn_edu.lab.largest import make_largest_scenes
from attn_edu.lab.model import CONTROLS, LARGEST_VARIANTS, WIDE_CHANNELS, build
from attn_edu.lab.train import LARGEST_MODELS, TrainConfig, largest_config, train

SITES = {
    "self_attention": ["attention/heads"], "external_attention": ["attention/memory"],
    "emsa": ["attention/heads_normalized"], "se": ["attention/channel"], "eca": ["attention/channel"],
    "sk": ["attention/branch"], "psa": ["attention/branch"], "cbam": ["attention/channel", "attention/spatial"],
    "bam": ["attention/channel", "attention/spatial"], "danet": ["attention/position", "attention/channel_affinity"],
}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(registry.MECHANISMS))
def test_every_mechanism_has_its_sites_and_an_empty_ablation_changes_nothing(name):
    model = store.load(name)  # trained on the first task: every site carries something
    x = lab.test_scenes(4).images
    with torch.no_grad():
        ref = model(x)
        with ablate(model, {}) as seen:
            same = model(x)
        assert seen == SITES[name] == sites(model)
        torch.testing.assert_close(same, ref, rtol=1e-5, atol=1e-6)  # readable path vs fused: rounding
        for site in seen:
            with ablate(model, {site: lambda t: torch.zeros_like(t)}):
                changed = model(x)
            assert not torch.allclose(changed, ref), site


def test_per_image_mean_makes_softmax_weights_uniform_per_image():
    a = torch.softmax(torch.randn(3, 4, 5, 7), dim=-1)
    u = per_image_mean(a)
    assert u.shape == a.shape
    torch.testing.assert_close(u, torch.full_like(a, 1 / 7))
    g = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    assert per_image_mean(g).tolist() == [[2.0, 2.0], [0.0, 0.0]]


def test_ablate_refuses_a_site_no_forward_passed_and_a_wrong_shape():
    model = build("cbam", 0).eval()
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="no forward passed the site.*attention/spatail.*attention/channel"):
        with torch.no_grad(), ablate(model, {"attention/spatail": per_image_mean}):
            model(x)
    with pytest.raises(ValueError, match="edit of 'attention/spatial' \\(CBAMBlock\\) must return a tensor of shape"):
        with torch.no_grad(), ablate(model, {"attention/spatial": lambda t: t[:, :2]}):
            model(x)
    with pytest.raises(TypeError, match="ablate: edits must be a dict"), ablate(model, {"attention/spatial": 1}):
        pass
    with pytest.raises(ValueError, match="contains no attn_edu mechanism"), ablate(torch.nn.Linear(2, 2), {}):
        pass
    assert model.attention._site_edit is None  # unhooked after every failure


def test_controls_pool_by_max_and_match_the_largest_mechanism_in_parameters():
    assert set(CONTROLS) == {"none_max", "none_wide"}
    x = torch.rand(2, 3, 64, 64)
    m = build("none_max", 0).eval()
    with torch.no_grad():
        f = m.features(x)
        torch.testing.assert_close(m(x), m.classifier(f.amax(dim=(2, 3))))
    largest = max(_params(build(n, 0)) for n in registry.MECHANISMS)

    def wide_params(w: int) -> int:  # the formula of none_wide's layers (conv, BN, classifier)
        return 3 * 32 * 9 + 2 * 32 + 32 * w * 9 + 2 * w + 2 * (w * w * 9 + 2 * w) + 5 * w + 5

    assert wide_params(WIDE_CHANNELS) == _params(build("none_wide", 0))
    assert min(range(32, 256), key=lambda w: abs(wide_params(w) - largest)) == WIDE_CHANNELS


def test_the_second_task_variants_change_only_the_kernels():
    for name, v in LARGEST_VARIANTS.items():
        model, base = build(name).attention, build(v.mechanism).attention
        assert type(model) is type(base)
        kernels = getattr(model, "kernels", None) or model.conv_kernels
        assert len(set(kernels)) == 1, name
        assert _params(model) <= _params(base)
    assert set(LARGEST_MODELS) >= {"none", *CONTROLS, *registry.MECHANISMS, *LARGEST_VARIANTS}


def test_train_config_reads_old_manifest_configs_and_refuses_unknown_fields():
    old = store.manifest()["cbam"]["config"]
    assert "task" not in old
    cfg = TrainConfig.from_dict(old)
    assert cfg.task == "objects" and cfg.data_seed is None and not cfg.channels_last
    with pytest.raises(ValueError, match="unknown field"):
        TrainConfig.from_dict({**old, "steps": 3})
    with pytest.raises(ValueError, match="task must be one of"):
        TrainConfig("none", task="bigger")
    assert largest_config("se", 2).asdict()["task"] == "largest"


def test_the_second_task_trains_stores_and_evaluates(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "LARGEST_DIR", tmp_path / "largest")
    cfg = dataclasses.replace(largest_config("cbam", 1), scenes_per_epoch=128, batch_size=32)
    model, log = train(cfg, progress=False, max_steps=2)
    assert len(log["losses"]) == 2
    scenes = make_largest_scenes(40, 9, "test", distractors="any")
    metrics = evaluate_largest(model, scenes)
    assert set(metrics) == {"accuracy", "pointing_game", "pointing_chance", "ablation"}
    assert set(metrics["ablation"]) == {"attention/channel", "attention/spatial"}
    assert metrics["ablation"] == ablation_accuracy(model, scenes)
    store.save("cbam", model, {"config": cfg.asdict(), "metrics": metrics}, task="largest", seed=1)
    assert list(store.manifest("largest")) == ["cbam.s1"]
    again = store.load("cbam", task="largest", seed=1)
    assert evaluate_largest(again, scenes) == metrics
    with pytest.raises(ValueError, match="no shipped weights for 'cbam.s0'"):
        store.load("cbam", task="largest", seed=0)
    with pytest.raises(TypeError, match="needs an int seed"):
        store.load("cbam", task="largest")
    with pytest.raises(ValueError, match="task must be"):
        store.manifest("bigger")
