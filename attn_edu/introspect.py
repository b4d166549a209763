"""One way to see what any of the ten mechanisms attends with.

Every mechanism derives from :class:`AttentionModule` and calls ``self._emit(...)`` at the line
where its attention weights exist. Nothing is stored by default: ``_emit`` is a no-op unless a
:func:`capture` context is open on the module (or a model containing it). Inside the context each
call appends one :class:`AttentionMap`, a tensor plus the names of its axes, so a single
visualiser can serve every chapter::

    with capture(model) as maps:
        model(x)
    maps[0].dims      # e.g. "B H W" (a spatial map), "B C" (channel weights), "B h N M" (per-head)

Axis letters, used everywhere in the package and the book:

=========  ===========================================================
``B``      batch
``C``      channels (``C C``: a channel-to-channel affinity)
``H W``    the spatial grid
``K``      branches / kernel scales (SK, PSA)
``h``      heads
``N``      query tokens (``N = H*W`` where ``hw`` is set)
``M``      key tokens (``M = H'*W'`` where ``kv_hw`` is set)
``S``      external memory units
=========  ===========================================================

See the book's introduction, section "Reading attention maps".

**Ablations** (:func:`ablate`): the same named tensors are also *sites* where a weight that enters
the computation can be replaced while the model runs, e.g. CBAM's spatial gate by its per-image
mean (:func:`per_image_mean`), to ask how much of a trained model's accuracy the gate carries. A
mechanism marks a site with ``t = self._site(name, t)`` on the tensor it goes on to use; the lab's
ablation tables (:func:`attn_edu.lab.evaluate.ablation_accuracy`) list them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from torch import Tensor, nn

KINDS = ("spatial", "channel", "branch", "token", "memory")
"""What an emitted tensor's weights range over: the one vocabulary of kinds of the package. A
mechanism's own kind (:attr:`attn_edu.registry.Mechanism.kind`) is one of the first-order three,
``spatial``, ``channel``, ``token``; see :mod:`attn_edu.registry` for the table and what follows."""


@dataclass(frozen=True)
class AttentionMap:
    """One attention tensor handed back by a mechanism.

    Attributes:
        module: where the mechanism sits in the captured model ("" for the captured module itself).
        mechanism: the mechanism's class name, e.g. ``"CBAMBlock"``.
        name: what the tensor is inside the mechanism, e.g. ``"spatial"``, ``"channel"``.
        kind: one of :data:`KINDS`: ``spatial`` (a map over H W), ``channel`` (weights over C),
            ``branch`` (weights over K branches), ``token`` (query-to-key weights), ``memory``
            (responses of external memory units).
        dims: the axis letters of ``tensor``, e.g. ``"B H W"``.
        tensor: the weights, detached by default.
        hw: the (H, W) grid of the query tokens / map, where known.
        kv_hw: the (H, W) grid of the key tokens, where known (spatially reduced keys in EMSA).
    """

    module: str
    mechanism: str
    name: str
    kind: str
    dims: str
    tensor: Tensor
    hw: tuple[int, int] | None = None
    kv_hw: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        """``"module/name"``: unique within one forward pass of a model."""
        return f"{self.module}/{self.name}" if self.module else self.name

    def spatial(self) -> Tensor:
        """The map as an image grid: ``B ... H W``.

        ``B H W`` maps are returned as they are; token axes ``N`` (queries) or ``M`` (keys) are
        unflattened with ``hw`` / ``kv_hw``. Raises ValueError if the map has no spatial axis.
        """
        letters = self.dims.split()
        t = self.tensor
        if letters[-2:] == ["H", "W"]:
            return t
        if letters[-1] == "M" and self.kv_hw is not None:
            return t.unflatten(-1, self.kv_hw)
        if letters[-1] in ("N", "S") and "N" in letters and self.hw is not None:
            # B N S memory responses: put the units first, the grid last -> B S H W
            n_axis = letters.index("N")
            return t.movedim(n_axis, -1).unflatten(-1, self.hw)
        raise ValueError(f"AttentionMap {self.key!r} with dims {self.dims!r} has no spatial grid to unflatten")


class AttentionModule(nn.Module):
    """Base class of the ten mechanisms: the emit/capture plumbing and the cost formulas.

    Subclasses call :meth:`_emit` where their attention weights exist and implement
    :meth:`num_params_formula` (the documented parameter count, checked against
    ``sum(p.numel())`` by the tests) and :meth:`flops_formula` (2 x multiply-accumulates of the
    matmuls and convolutions on the readable path, what ``torch.utils.flop_counter`` counts).
    """

    def __init__(self) -> None:
        super().__init__()
        self._attn_sink: Callable[..., None] | None = None
        self._site_edit: Callable[[str, Tensor], Tensor] | None = None

    @property
    def capturing(self) -> bool:
        """True inside a :func:`capture` or :func:`ablate` context: paths that cannot expose (or
        replace) their weights step aside."""
        return self._attn_sink is not None or self._site_edit is not None

    def _site(self, name: str, tensor: Tensor) -> Tensor:
        """``tensor``, or what an :func:`ablate` context puts in its place: call it on a weight the
        forward goes on to use, under the name of the map it is (or is computed from)."""
        return tensor if self._site_edit is None else self._site_edit(name, tensor)

    def _emit(
        self,
        name: str,
        tensor: Tensor,
        dims: str,
        kind: str,
        hw: tuple[int, int] | None = None,
        kv_hw: tuple[int, int] | None = None,
    ) -> None:
        if self._attn_sink is not None:
            self._attn_sink(name, tensor, dims, kind, hw, kv_hw)

    def num_params_formula(self) -> int:
        """The parameter count given by the formula in the class docstring."""
        raise NotImplementedError

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        """FLOPs (2 x MACs of matmuls and convolutions) of one forward on the readable path.

        One signature for all ten (:meth:`attn_edu.registry.Mechanism.flops` calls it alike):

        Args:
            x_shape: the input's shape as the forward takes it: ``B C H W`` for a map, ``B N C``
                for tokens (the queries' for self-attention).
            kv_shape: the keys' and values' ``B M C`` where they are other tokens than the queries
                (cross-attention); a module whose forward takes one input raises ValueError.
            H, W: the grid of ``B N C`` tokens, where the forward takes it (EMSA, which reduces its
                keys on that grid); the other modules' cost does not depend on it, and they ignore it.
        """
        raise NotImplementedError

    def _one_input(self, kv_shape: tuple[int, ...] | None) -> None:
        """For :meth:`flops_formula` of a module whose forward takes one input."""
        if kv_shape is not None:
            raise ValueError(f"{type(self).__name__}: flops_formula got kv_shape={tuple(kv_shape)}, "
                             "but the module takes one input (no separate keys and values)")


@contextlib.contextmanager
def capture(model: nn.Module, *, detach: bool = True) -> Iterator[list[AttentionMap]]:
    """Collect the :class:`AttentionMap` of every mechanism inside ``model`` during the block.

    Args:
        model: a mechanism, or any model that contains mechanisms.
        detach: hand back detached tensors (default). ``False`` keeps them in the graph, e.g. to
            put a loss on an attention map.

    Yields:
        A list that fills with one AttentionMap per emitted tensor, in call order.
    """
    maps: list[AttentionMap] = []

    def sink_for(path: str, mech: str) -> Callable[..., None]:
        def sink(name, tensor, dims, kind, hw, kv_hw):
            if kind not in KINDS:
                raise ValueError(f"{mech}: emitted kind {kind!r}, expected one of {KINDS}")
            if len(dims.split()) != tensor.dim():
                raise ValueError(f"{mech}: emitted {name!r} with dims {dims!r} but shape {tuple(tensor.shape)}")
            maps.append(AttentionMap(path, mech, name, kind, dims, tensor.detach() if detach else tensor, hw, kv_hw))

        return sink

    with _hooked(model, "_attn_sink", sink_for, "capture", "captured"):
        yield maps


@contextlib.contextmanager
def _hooked(model: nn.Module, attr: str, make: Callable[[str, str], Callable], who: str,
            doing: str) -> Iterator[None]:
    """Set ``attr`` of every mechanism in ``model`` to ``make(path, class name)`` while the block
    runs, and back to None after it (also when it raises): :func:`capture`'s and :func:`ablate`'s
    hooks. A mechanism already hooked is a RuntimeError, a model without one a ValueError; both
    before anything is set."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: model must be a torch.nn.Module, got {type(model).__name__}")
    found = [(path, m) for path, m in model.named_modules() if isinstance(m, AttentionModule)]
    if not found:
        raise ValueError(f"{who}: {type(model).__name__} contains no attn_edu mechanism")
    for path, module in found:
        if getattr(module, attr) is not None:
            raise RuntimeError(f"{who}: {type(module).__name__} at {path!r} is already being {doing}")
    for path, module in found:
        setattr(module, attr, make(path, type(module).__name__))
    try:
        yield
    finally:
        for _, module in found:
            setattr(module, attr, None)


def per_image_mean(t: Tensor) -> Tensor:
    """Each sample's tensor replaced by its mean (over every axis but the batch axis), shape kept:
    a gate that no longer tells positions, channels or branches apart, at the same average strength.
    Softmax weights become uniform (their mean is one over the number they are normalised over)."""
    return t.mean(dim=tuple(range(1, t.dim())), keepdim=True).expand_as(t)


@contextlib.contextmanager
def ablate(model: nn.Module, edits: dict[str, Callable[[Tensor], Tensor]]) -> Iterator[list[str]]:
    """Replace weights inside ``model``'s mechanisms while the block runs.

    Args:
        model: a mechanism, or any model that contains mechanisms.
        edits: ``{site key: function}``, a key as :attr:`AttentionMap.key` spells it (``"module/name"``,
            e.g. ``"attention/spatial"``; the bare name for a mechanism passed itself); the function
            gets the site's tensor and returns what the forward uses instead (same shape), e.g.
            :func:`per_image_mean`. ``{}`` changes nothing and records the sites.

    Yields:
        A list that fills with the key of every site the forwards pass, in call order (edited or not).
        A key of ``edits`` that no forward passed is a ValueError when the block ends, so a misspelt
        site cannot pass silently as "no effect". While it is open, modules with a fused path run
        their readable one (as while capturing).
    """
    if not isinstance(edits, dict) or not all(isinstance(k, str) and callable(f) for k, f in edits.items()):
        raise TypeError(f"ablate: edits must be a dict of site key -> function, got {edits!r}")
    seen: list[str] = []

    def edit_for(path: str, mech: str) -> Callable[[str, Tensor], Tensor]:
        def edit(name: str, tensor: Tensor) -> Tensor:
            key = f"{path}/{name}" if path else name
            if key not in seen:
                seen.append(key)
            if key not in edits:
                return tensor
            out = edits[key](tensor)
            if not isinstance(out, Tensor) or out.shape != tensor.shape:
                raise ValueError(f"ablate: the edit of {key!r} ({mech}) must return a tensor of shape "
                                 f"{tuple(tensor.shape)}, got {getattr(out, 'shape', type(out).__name__)}")
            return out

        return edit

    with _hooked(model, "_site_edit", edit_for, "ablate", "ablated"):
        yield seen
    missing = [k for k in edits if k not in seen]
    if missing:
        raise ValueError(f"ablate: no forward passed the site(s) {', '.join(missing)}; "
                         f"sites passed: {', '.join(seen) or 'none'}")
