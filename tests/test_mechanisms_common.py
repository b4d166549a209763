"""Properties every one of the ten mechanisms must have, swept over the registry.

The compatibility calls of External-Attention-pytorch, any spatial size the math allows, batch 1
in train and eval, float32/float64, ``.to()``, ``state_dict``, no mutation of the input, correct
gradients, documented parameter and FLOP formulas, the introspection API and clear errors.
"""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from attn_edu import capture
from attn_edu.introspect import KINDS, AttentionModule
from attn_edu.registry import MECHANISMS

NAMES = list(MECHANISMS)
C = 64  # small enough to be quick, large enough for every mechanism's grouping


def build(name: str, seed: int = 0, channels: int = C) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MECHANISMS[name].build(channels)


def randn(*shape: int, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def reference_path(module: torch.nn.Module) -> torch.nn.Module:
    for m in module.modules():
        if hasattr(m, "impl"):
            m.impl = "reference"
    return module


@pytest.mark.parametrize("name", NAMES)
def test_compat_call_runs_and_keeps_shape(name):
    mech = MECHANISMS[name]
    module, x = mech.example()
    assert type(module) is mech.cls
    with torch.no_grad():
        out = mech.call_example(module.eval(), x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hw", [(1, 1), (1, 6), (5, 3), (7, 7), (9, 4)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_any_spatial_size_batch_one(name, hw, mode):
    module = build(name).train(mode == "train")
    x = randn(1, C, *hw)
    out = MECHANISMS[name].apply(module, x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_float64_and_to_moves_everything(name):
    module = build(name).eval().to(torch.float64)
    assert all(t.dtype == torch.float64 for t in module.state_dict().values() if t.is_floating_point())
    out = MECHANISMS[name].apply(module, randn(2, C, 5, 6, dtype=torch.float64))
    assert out.dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    a, b = build(name, seed=0).eval(), build(name, seed=123).eval()
    x = randn(2, C, 6, 5)
    mech = MECHANISMS[name]
    with torch.no_grad():
        before = mech.apply(b, x)
        b.load_state_dict(copy.deepcopy(a.state_dict()))
        after, want = mech.apply(b, x), mech.apply(a, x)
    assert not torch.equal(before, want)
    torch.testing.assert_close(after, want, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_forward_does_not_mutate_input(name):
    x = randn(2, C, 5, 5)
    x_copy = x.clone()
    out = MECHANISMS[name].apply(build(name).train(), x)
    out.sum().backward() if out.requires_grad else None
    assert torch.equal(x, x_copy)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient(name):
    module = build(name).train()
    x = randn(2, C, 5, 4).requires_grad_()
    MECHANISMS[name].apply(module, x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    missing = [n for n, p in module.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reached {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    module = reference_path(build(name, channels=C)).eval().double()
    x = randn(1, C, 3, 2, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: MECHANISMS[name].apply(module, t), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("where", ["compat", "small"])
def test_param_count_equals_documented_formula(name, where):
    module = MECHANISMS[name].example()[0] if where == "compat" else build(name)
    assert sum(p.numel() for p in module.parameters()) == module.num_params_formula()


@pytest.mark.parametrize("name", NAMES)
def test_flops_equal_documented_formula(name):
    mech = MECHANISMS[name]
    module = reference_path(build(name)).eval()
    x = randn(2, C, 6, 5)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        mech.apply(module, x)
    assert counter.get_total_flops() == mech.flops(module, x)


def test_flops_formula_has_one_signature():
    base = inspect.signature(AttentionModule.flops_formula)
    assert {n: inspect.signature(m.cls.flops_formula) for n, m in MECHANISMS.items()} == dict.fromkeys(NAMES, base)


@pytest.mark.parametrize("name", NAMES)
def test_flops_formula_counts_or_refuses_other_keys(name):
    module, x = MECHANISMS[name].example()
    kv_shape = (x.shape[0], 3, x.shape[-1])  # 3 key tokens
    try:
        fewer_keys = module.flops_formula(tuple(x.shape), kv_shape)
    except ValueError as e:  # one input, or EMSA's keys reduced on the queries' grid: says who
        assert type(module).__name__ in str(e)
        return
    assert fewer_keys < module.flops_formula(tuple(x.shape))  # self-attention counts the keys it gets


@pytest.mark.parametrize("name", NAMES)
def test_capture_hands_back_maps_without_storing(name):
    module = build(name).eval()
    x = randn(2, C, 6, 5)
    with capture(module) as maps:
        out_captured = MECHANISMS[name].apply(module, x)
    assert maps, "a mechanism must emit at least one map"
    for m in maps:
        assert m.kind in KINDS and m.mechanism == type(module).__name__
        assert len(m.dims.split()) == m.tensor.dim() and m.tensor.shape[0] == 2
        assert not m.tensor.requires_grad
    # outside the context nothing is kept, and the output does not depend on capturing
    out = MECHANISMS[name].apply(module, x)
    torch.testing.assert_close(out, out_captured)
    assert all(getattr(m, "_attn_sink", None) is None for m in module.modules())


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_name_the_class(name):
    module = build(name)
    cls = type(module).__name__
    mech = MECHANISMS[name]
    with pytest.raises(ValueError, match=cls):
        mech.apply(module, randn(2, C + 1, 5, 5))  # wrong channel count
    with pytest.raises(TypeError, match=cls):
        mech.apply(module, torch.ones(2, C, 5, 5, dtype=torch.int64))  # not floating point
    call = lambda t: mech.call_example(module, t)  # noqa: E731
    with pytest.raises(ValueError, match=cls):
        call(randn(2, C))  # wrong rank
    with pytest.raises(TypeError, match=cls):
        call([[1.0] * C])  # not a tensor


@pytest.mark.parametrize("name", NAMES)
def test_bad_constructor_arguments_name_the_class(name):
    cls = MECHANISMS[name].cls
    first = next(iter(inspect.signature(cls).parameters))  # the collection's first argument: d_model, channel, ...
    with pytest.raises((TypeError, ValueError), match=cls.__name__):
        cls(**{first: 0})
    with pytest.raises(TypeError, match=cls.__name__):
        cls(**{first: "512"})
