"""Mixed precision and double backward, swept over the ten mechanisms of the registry.

Precision: every mechanism (``build(64)``, eval, a seeded ``2 x 64 x 8 x 8`` input, both paths
where it has two) in bfloat16 and float16 -- module and input cast with ``.to(dtype)``, and a
float32 module under ``torch.autocast("cpu", dtype)`` -- against the same module in float32.
The measure is the relative error of the output, ``||y - y32|| / ||y32||``, and the bound is
``TOL_UNITS = 10`` unit roundoffs of the dtype (``u = finfo.eps / 2``): 3.9e-2 for bfloat16,
4.9e-3 for float16. Measured with torch 2.13 on CPU (worst of seeds 0-4, both paths, cast and
autocast): EMSA 1.7e-2 (bf16) and 3.1e-3 (fp16), i.e. 4.3 and 6.4 u -- its instance norm
rescales the tiny deviations of a nearly uniform softmax, so the rounding of the projections
passes to the output undamped; the nine others at most 6.5e-3 (bf16) and 8.6e-4 (fp16), <= 1.8 u.
Before EMSA computed its attention weights in float32 it was off by 1.0 (bf16) and 3.1 (fp16),
and crashed under autocast. Every op of the ten runs in float16 on CPU (forward and backward)
in torch 2.13: nothing is skipped or upcast for want of a kernel.

Double backward: the reference paths support it; a fast path either supports it (and then
agrees with the reference path) or raises a RuntimeError that names the module and the remedy
``impl="reference"`` -- the fused ``F.scaled_dot_product_attention`` kernels have no second
derivative.

``scripts/gpu_check.py`` repeats the precision comparison on CUDA; here only its no-GPU path runs.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from attn_edu.mechanisms import EMSA, ScaledDotProductAttention
from attn_edu.registry import MECHANISMS

NAMES = list(MECHANISMS)
C = 64
HALF = [torch.bfloat16, torch.float16]
TOL_UNITS = 10
ROOT = Path(__file__).resolve().parents[1]


def tol(dtype: torch.dtype) -> float:
    return TOL_UNITS * torch.finfo(dtype).eps / 2


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y.double() - ref.double()).norm() / ref.double().norm()).item()


def with_impl(module: torch.nn.Module, impl: str) -> torch.nn.Module:
    for m in module.modules():
        if hasattr(m, "impl"):
            m.impl = impl
    return module


def has_paths(name: str) -> bool:
    torch.manual_seed(0)
    return any(hasattr(m, "impl") for m in MECHANISMS[name].build(C).modules())


CASES = [(n, impl) for n in NAMES for impl in ("fast", "reference") if impl == "fast" or has_paths(n)]


def setup(name: str, impl: str, hw: tuple[int, int] = (8, 8), seed: int = 0):
    torch.manual_seed(seed)
    module = with_impl(MECHANISMS[name].build(C), impl)
    x = torch.randn(2, C, *hw, generator=torch.Generator().manual_seed(seed + 1))
    return module, x


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name,impl", CASES)
def test_half_precision_module_matches_float32(name, impl, dtype):
    module, x = setup(name, impl)
    mech = MECHANISMS[name]
    with torch.no_grad():
        ref = mech.apply(module.eval(), x)
        out = mech.apply(copy.deepcopy(module).to(dtype), x.to(dtype))
    assert out.dtype == dtype
    err = rel_err(out, ref)
    assert err <= tol(dtype), f"{name} ({impl}) in {dtype}: relative error {err:.2e} > {tol(dtype):.2e}"


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name,impl", CASES)
def test_autocast_matches_float32(name, impl, dtype):
    module, x = setup(name, impl)
    mech = MECHANISMS[name]
    with torch.no_grad():
        ref = mech.apply(module.eval(), x)
        with torch.autocast("cpu", dtype=dtype):
            out = mech.apply(module, x)
    assert out.dtype in (dtype, torch.float32)  # a gate multiplying the float32 input promotes
    err = rel_err(out, ref)
    assert err <= tol(dtype), f"{name} ({impl}) under {dtype} autocast: relative error {err:.2e} > {tol(dtype):.2e}"


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_training_backward(name, dtype):
    """Train mode, cast and under autocast: the backward runs and every gradient is finite."""
    module, x = setup(name, "fast", hw=(5, 6))
    mech = MECHANISMS[name]
    half = copy.deepcopy(module).to(dtype).train()
    mech.apply(half, x.to(dtype)).float().square().mean().backward()
    with torch.autocast("cpu", dtype=dtype):
        out = mech.apply(module.train(), x)
    out.float().square().mean().backward()
    for m in (half, module):
        grads = [p.grad for p in m.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(p.grad.dtype == dtype for p in half.parameters() if p.grad is not None)


def test_emsa_transform_in_bfloat16_is_not_its_output_bias():
    """The bug this file was written for: in bfloat16 every output token equalled ``fc_o.bias``."""
    torch.manual_seed(0)
    emsa = EMSA(d_model=64, h=4, H=8, W=8, ratio=2, apply_transform=True).eval()
    x = torch.randn(2, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = emsa(x, x, x)
        out = copy.deepcopy(emsa).bfloat16()(x.bfloat16(), x.bfloat16(), x.bfloat16())
    assert (out - emsa.fc_o.bias.bfloat16()).abs().amax() > 0
    assert rel_err(out, ref) <= tol(torch.bfloat16)


def _double_backward(name: str, impl: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """d/dx and d/dparams of ||d/dx ||f(x)||^2||^2 (a gradient penalty)."""
    module, x = setup(name, impl, hw=(4, 4))
    module.eval().double()
    x = x.double().requires_grad_()
    (g,) = torch.autograd.grad(MECHANISMS[name].apply(module, x).square().sum(), x, create_graph=True)
    g.square().sum().backward()
    return x.grad, [p.grad for p in module.parameters()]


@pytest.mark.parametrize("name,impl", CASES)
def test_double_backward_works_or_names_the_module_and_the_remedy(name, impl):
    ref_x, ref_p = _double_backward(name, "reference")
    if impl == "reference":
        assert torch.isfinite(ref_x).all()
        return
    try:
        got_x, got_p = _double_backward(name, impl)
    except RuntimeError as e:
        message = str(e)
        assert MECHANISMS[name].cls.__name__ in message and 'impl="reference"' in message, message
        return
    torch.testing.assert_close(got_x, ref_x)
    for a, b in zip(got_p, ref_p):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("make", [
    lambda: ScaledDotProductAttention(d_model=16, h=4),
    lambda: EMSA(d_model=16, h=4, apply_transform=False),
], ids=["ScaledDotProductAttention", "EMSA-no-transform"])
def test_fused_attention_refuses_double_backward_clearly(make):
    torch.manual_seed(0)
    module = make().eval()
    name = type(module).__name__
    x = torch.randn(2, 9, 16, generator=torch.Generator().manual_seed(1), requires_grad=True)
    (g1,) = torch.autograd.grad(module(x, x, x).square().sum(), x)
    (g2,) = torch.autograd.grad(module(x, x, x).square().sum(), x, create_graph=True)
    assert torch.equal(g1, g2)  # first-order gradients unchanged; create_graph alone is fine
    with pytest.raises(RuntimeError, match=rf'^{name}: double backward.*impl="reference"') as info:
        g2.square().sum().backward()
    assert "not implemented" not in str(info.value)
    # the remedies the message names both work
    with sdpa_kernel(SDPBackend.MATH):
        (g,) = torch.autograd.grad(module(x, x, x).square().sum(), x, create_graph=True)
    g.square().sum().backward()
    module.impl = "reference"
    (g,) = torch.autograd.grad(module(x, x, x).square().sum(), x, create_graph=True)
    g.square().sum().backward()


def test_gpu_check_without_cuda_says_skipped_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "skipped: no CUDA device" in done.stdout
