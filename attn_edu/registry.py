"""The ten mechanisms, and everything the book, the lab and the benchmark need to know about each.

``MECHANISMS`` is an ordered dict ``name -> Mechanism``; iterate over it instead of listing the
ten by hand. This module is the only place outside ``attn_edu/mechanisms/`` that knows any one
mechanism: consumers read the fields of its entry and never branch on its name or class
(``tests/test_one_place_per_fact.py`` checks the package and the chapters). Each entry holds

* the paper (``title``, ``authors``, ``venue``, ``year``, ``arxiv``, ``official_code``), the book's
  chapter, and ``short``, the name figures and tables print ("SE", "self-attention");
* how to build and call it: the call users of the External-Attention-pytorch collection write
  (``compat_call``, ``compat_input``: :meth:`Mechanism.example`, :meth:`Mechanism.call_example`),
  a factory for any channel count (:meth:`Mechanism.build`), and ``call``, how its forward is
  called on its own input, from which :meth:`Mechanism.apply` runs it on a ``B C H W`` map (token
  mechanisms through ``B N C``) so that a backbone hosts a token mechanism as easily as a gate;
* its cost: :meth:`Mechanism.flops` (the documented formula, for the input ``apply`` sees),
  ``bound`` (the machine's kernel that bounds it: GEMM, 3x3 convolution or the broadcast-multiply
  floor), ``also_timed``, ``fused_call``, ``path_note`` and ``sweep_readable`` (what the
  benchmark times beside it; see :mod:`attn_edu.bench`). What a mechanism should reach there is
  not here: the targets are goals for this project's machine, in ``benchmarks/targets.json``;
* ``lab_reads``: the emitted tensor the lab's metrics read (:mod:`attn_edu.lab.evaluate`).

**Kinds: one vocabulary.** A *kind* names what a set of attention weights ranges over; the
five words are :data:`attn_edu.introspect.KINDS`, and every emitted
:class:`~attn_edu.introspect.AttentionMap` carries one:

==========  ================================================  ==================
kind        the weights range over                            dims
==========  ================================================  ==================
``channel`` the channels of a map                             ``B C``, ``B C C``
``branch``  K branches, per channel (channel weights by       ``B K C``
            branch)
``spatial`` the positions of a map                            ``B H W``
``token``   keys, per query token                             ``B h N M``
``memory``  S memory units, per token (token weights over     ``B N S``
            a learned memory)
==========  ================================================  ==================

A mechanism's ``kind`` is one of the first-order three, :data:`MECHANISM_KINDS`: ``channel``
(it reweights the channels of a ``B C H W`` map: SE, ECA, SK, PSA; branch weights are channel
weights), ``spatial`` (it weighs the positions of a ``B C H W`` map, with or without a channel
gate: CBAM, BAM, DANet) or ``token`` (attention among ``B N C`` tokens, or from them to a
memory: self-attention, EMSA, External Attention). The rest follows from it:

* :attr:`Mechanism.takes`: a token mechanism takes ``B N C`` tokens, the others ``B C H W`` maps;
* :attr:`Mechanism.map_kind`, the lab's map (:data:`MAP_KINDS`): ``channel`` mechanisms give a
  weight vector, ``spatial`` and ``token`` ones a map over the image (``tests/test_lab_run.py``
  checks that the tensor each one's ``lab_reads`` names has a grid exactly when this says so).

See the book's introduction ("Reading attention maps") and the chapters named by ``chapter``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .introspect import KINDS, AttentionModule
from .mechanisms import (
    BAMBlock,
    CBAMBlock,
    DAModule,
    ECAAttention,
    EMSA,
    ExternalAttention,
    PSA,
    ScaledDotProductAttention,
    SEAttention,
    SKAttention,
)

MECHANISM_KINDS = ("channel", "spatial", "token")
"""What a mechanism's weights range over (a subset of :data:`attn_edu.introspect.KINDS`)."""
if not set(MECHANISM_KINDS) <= set(KINDS):
    raise ImportError("registry: MECHANISM_KINDS must be kinds of attn_edu.introspect.KINDS")
MAP_KINDS = ("spatial", "channel")
"""The lab's map of a mechanism: a map over the image, or a weight vector."""
BOUNDS = ("gemm", "conv3x3", "floor")
"""The machine's kernels that bound a mechanism (:func:`attn_edu.bench.limit_kernels`)."""

Call = Callable[[nn.Module, Tensor, tuple[int, int] | None], Tensor]
"""``call(module, x, hw)``: run ``module`` on ``x``, its own input (``B N C`` tokens or a ``B C H W``
map); ``hw`` is the grid of the tokens where known (``None``: the module's own default)."""


def call_x(module: nn.Module, x: Tensor, hw: tuple[int, int] | None) -> Tensor:
    """``module(x)``: one input (the gates, External Attention)."""
    return module(x)


def call_qkv(module: nn.Module, x: Tensor, hw: tuple[int, int] | None) -> Tensor:
    """``module(x, x, x)``: queries, keys and values, here the same tokens (self-attention)."""
    return module(x, x, x)


def call_qkv_on_grid(module: nn.Module, x: Tensor, hw: tuple[int, int] | None) -> Tensor:
    """``module(x, x, x, H=H, W=W)``: self-attention that reshapes its tokens to their grid (EMSA)."""
    return module(x, x, x) if hw is None else module(x, x, x, H=hw[0], W=hw[1])


def _map_to_tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)  # B C H W -> B N C


def _tokens_to_map(t: Tensor, h: int, w: int) -> Tensor:
    return t.transpose(1, 2).unflatten(2, (h, w))  # B N C -> B C H W


def _args(call: str) -> list[str]:
    return call[call.index("(") + 1:call.rindex(")")].split(", ")


@dataclass(frozen=True, kw_only=True)
class CollectionPeer:
    """A mechanism's module in the External-Attention-pytorch collection (PyPI ``fightingcv-attention``)
    at the same compatibility call, and how the two relate (:mod:`attn_edu.collection` uses it).

    Attributes:
        module: the collection's Python module that defines the class of ``compat_call``.
        same_function: whether, with the weights aligned (``keys``; a weight one side lacks set to
            zero on the other), the two compute the same function at the compatibility call, in
            ``eval()`` mode (no dropout).
        keys: our state-dict keys whose name differs in the collection's (ours -> theirs); ``None``
            for a weight only ours has (a bias), which the alignment zeroes. A key of theirs with
            no counterpart here is zeroed in theirs.
        reversed_inputs: our keys of weights whose input channels (dim 1) come in the reverse order
            in the collection's (CBAM's spatial kernel: ours sees [mean; max], theirs [max; mean]).
        adds_input: the collection's module returns ours plus its input (CBAM's extra residual).
        differs: where the two compute different functions, what differs, in a sentence.
    """

    module: str
    same_function: bool
    keys: dict[str, str | None] = field(default_factory=dict)
    reversed_inputs: tuple[str, ...] = ()
    adds_input: bool = False
    differs: str = ""

    def __post_init__(self) -> None:
        if not self.module.startswith("fightingcv_attention.attention."):
            raise ValueError(f"CollectionPeer: module must be in fightingcv_attention.attention, got {self.module!r}")
        if self.same_function == bool(self.differs):
            raise ValueError("CollectionPeer: give `differs` exactly when the functions differ")


@dataclass(frozen=True, kw_only=True)
class LabClaim:
    """The accuracy claim of a mechanism's paper that its chapter answers on the lab's second task
    (:mod:`attn_edu.lab.claims` computes the answer, whatever it is).

    Attributes:
        says: the claim, in one sentence.
        pairs: ``(model, against)`` comparisons that answer it, in lab model names
            (:data:`attn_edu.lab.MODELS`); one against ``"none"`` is an "attention helps"
            comparison, which the chapter states beside the max-pooling control.
    """

    says: str
    pairs: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not self.says or not self.pairs or any(len(p) != 2 for p in self.pairs):
            raise ValueError(f"LabClaim: expected a sentence and (model, against) pairs, got {self!r}")

    @property
    def models(self) -> tuple[str, ...]:
        """The models the pairs name, in order of first appearance."""
        return tuple(dict.fromkeys(name for pair in self.pairs for name in pair))


@dataclass(frozen=True, kw_only=True)
class Mechanism:
    """One mechanism: its paper, how to build and call it, what it costs, what the lab reads.

    Attributes:
        name: short key, e.g. ``"se"``.
        cls: the module class in :mod:`attn_edu.mechanisms`.
        short: the name figures and tables print, e.g. ``"SE"``, ``"self-attention"``.
        title, authors, venue, year, arxiv, official_code: the paper and the authors' code.
        kind: one of :data:`MECHANISM_KINDS` (see the module docstring).
        chapter: the book page, relative to the repository root (without suffix).
        compat_call: the constructor call users of External-Attention-pytorch write.
        compat_input: the input shape that call is documented with.
        make: ``channels -> module`` with the book's and the lab's settings (:meth:`build`).
        call: how the module's forward is called on its own input (:data:`Call`).
        bound: which of :data:`BOUNDS` bounds it at its compatibility call.
        also_timed: a kernel of :func:`attn_edu.bench.limit_kernels` timed beside it for reference
            only, not its bound (SK: the grouped 3x3 convolution it is made of).
        fused_call: where the compatibility call's fast path is not the fused
            ``F.scaled_dot_product_attention``, a call on the same input whose fast path is (the
            benchmark's path comparison times both).
        path_note: what the compatibility call's fast path is, where it is not the fused kernel.
        sweep_readable: whether the benchmark's sweeps time the readable path (``impl="reference"``)
            beside the fast one, for a module that has both; False where the fast path of
            :meth:`build`'s module is the same arithmetic in another order, not another kernel.
        lab_reads: the name of the emitted tensor the lab's metrics read from the slot's module
            (its kind decides how: see :mod:`attn_edu.lab.evaluate`).
        collection: the collection's module at ``compat_call`` (:class:`CollectionPeer`).
        lab_claim: the paper's accuracy claim the chapter answers on the lab's second task
            (:class:`LabClaim`).
    """

    name: str
    cls: type[AttentionModule]
    short: str
    title: str
    authors: str
    venue: str
    year: int
    arxiv: str
    official_code: str
    kind: str
    chapter: str
    compat_call: str
    compat_input: tuple[int, ...]
    make: Callable[[int], AttentionModule]
    call: Call = call_x
    bound: str
    also_timed: str | None = None
    fused_call: str | None = None
    path_note: str | None = None
    sweep_readable: bool = True
    lab_reads: str
    lab_claim: LabClaim
    collection: CollectionPeer

    def __post_init__(self) -> None:
        where = f"registry entry {self.name!r}"
        if self.kind not in MECHANISM_KINDS:
            raise ValueError(f"{where}: kind must be one of {MECHANISM_KINDS}, got {self.kind!r}")
        if self.bound not in BOUNDS:
            raise ValueError(f"{where}: bound must be one of {BOUNDS}, got {self.bound!r}")
        for call in (self.compat_call, self.fused_call):
            if call is not None and not call.startswith(f"{self.cls.__name__}("):
                raise ValueError(f"{where}: {call!r} is not a call of {self.cls.__name__}")

    # --- building and calling -------------------------------------------------------------

    def construct(self, call: str) -> AttentionModule:
        """The module of a literal constructor call of this file (``compat_call``, ``fused_call``)."""
        return eval(call, {self.cls.__name__: self.cls})  # a literal call from this file

    def example(self, seed: int = 0) -> tuple[AttentionModule, Tensor]:
        """The compatibility call and a seeded input of its documented shape."""
        torch.manual_seed(seed)
        module = self.construct(self.compat_call)
        x = torch.randn(self.compat_input, generator=torch.Generator().manual_seed(seed + 1))
        return module, x

    def call_example(self, module: nn.Module, x: Tensor) -> Tensor:
        """Call ``module`` on ``x`` the way users of the collection do (``sa(x, x, x)`` for tokens)."""
        return self.call(module, x, None)

    def build(self, channels: int) -> AttentionModule:
        """A module of this mechanism for a ``channels``-wide feature map (book/lab settings)."""
        return self.make(channels)

    @property
    def takes(self) -> str:
        """The dims of the module's input: ``"B N C"`` (token mechanisms) or ``"B C H W"``."""
        return "B N C" if self.kind == "token" else "B C H W"

    def input_shape(self, map_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape the module sees when :meth:`apply` runs it on a map of ``map_shape`` (B C H W)."""
        b, c, h, w = map_shape
        return (b, h * w, c) if self.takes == "B N C" else (b, c, h, w)

    def apply(self, module: nn.Module, x: Tensor) -> Tensor:
        """Run ``module`` on a B C H W map and return a B C H W map (tokens go through B N C)."""
        h, w = x.shape[2], x.shape[3]
        if self.takes == "B N C":
            return _tokens_to_map(self.call(module, _map_to_tokens(x), (h, w)), h, w)
        return self.call(module, x, (h, w))

    # --- cost and the lab -----------------------------------------------------------------

    def flops(self, module: AttentionModule, x_map: Tensor | tuple[int, ...]) -> int:
        """FLOPs of ``apply(module, x_map)`` on the readable path, from the docstring's formula."""
        shape = tuple(x_map.shape) if isinstance(x_map, Tensor) else tuple(x_map)
        return module.flops_formula(self.input_shape(shape), H=shape[2], W=shape[3])

    @property
    def fused_label(self) -> str | None:
        """``fused_call`` named by the arguments it changes, e.g. ``"emsa (apply_transform=False)"``."""
        if self.fused_call is None:
            return None
        changed = [a for a in _args(self.fused_call) if a not in _args(self.compat_call)]
        return f"{self.name} ({', '.join(changed)})"

    @property
    def map_kind(self) -> str:
        """The lab's map: ``"channel"`` (a weight vector) or ``"spatial"`` (a map over the image)."""
        return "channel" if self.kind == "channel" else "spatial"

    @property
    def citation(self) -> str:
        return f"{self.authors}. {self.title}. {self.venue} {self.year}. arXiv:{self.arxiv}"


_ENTRIES = [
    Mechanism(
        name="self_attention", cls=ScaledDotProductAttention, short="self-attention",
        title="Attention Is All You Need",
        authors="Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin", venue="NeurIPS", year=2017,
        arxiv="1706.03762", official_code="https://github.com/tensorflow/tensor2tensor",
        kind="token", chapter="book/self_attention",
        compat_call="ScaledDotProductAttention(d_model=512, d_k=512, d_v=512, h=8)", compat_input=(50, 49, 512),
        make=lambda c: ScaledDotProductAttention(d_model=c, d_k=max(1, c // 4), d_v=max(1, c // 4), h=4),
        call=call_qkv,
        bound="gemm",
        lab_reads="heads",
        lab_claim=LabClaim(
            says="Attention among all positions lets a model relate any two of them in one step; here: does it "
                 "beat pooling the whole map?",
            pairs=(("self_attention", "none"),)),
        collection=CollectionPeer(module="fightingcv_attention.attention.SelfAttention", same_function=True),
    ),
    Mechanism(
        name="external_attention", cls=ExternalAttention, short="External Attention",
        title="Beyond Self-attention: External Attention using Two Linear Layers for Visual Tasks",
        authors="Guo, Liu, Mu, Hu", venue="IEEE TPAMI", year=2022, arxiv="2105.02358",
        official_code="https://github.com/MenghaoGuo/EANet",
        kind="token", chapter="book/external_attention",
        compat_call="ExternalAttention(d_model=512, S=8)", compat_input=(50, 49, 512),
        make=lambda c: ExternalAttention(d_model=c, S=64),
        call=call_x,
        bound="floor",
        lab_reads="memory",
        lab_claim=LabClaim(
            says="The double normalisation (softmax over the tokens, then l1 over the memory units) is more "
                 "accurate than a single softmax (the paper's ablation)",
            pairs=(("external_attention", "none"), ("external_attention", "external_attention_softmax"))),
        collection=CollectionPeer(module="fightingcv_attention.attention.ExternalAttention", same_function=True),
    ),
    Mechanism(
        name="emsa", cls=EMSA, short="EMSA",
        title="ResT: An Efficient Transformer for Visual Recognition", authors="Zhang, Yang",
        venue="NeurIPS", year=2021, arxiv="2105.13677", official_code="https://github.com/wofmanaf/ResT",
        kind="token", chapter="book/emsa",
        compat_call="EMSA(d_model=512, d_k=512, d_v=512, h=8, H=8, W=8, ratio=2, apply_transform=True)",
        compat_input=(50, 64, 512),
        make=lambda c: EMSA(d_model=c, d_k=max(1, c // 4), d_v=max(1, c // 4), h=4, ratio=2, apply_transform=True),
        call=call_qkv_on_grid,
        bound="gemm",
        # with the transform (the compatibility call and build()) the fused kernel does not apply
        fused_call="EMSA(d_model=512, d_k=512, d_v=512, h=8, H=8, W=8, ratio=2, apply_transform=False)",
        path_note="apply_transform=True: the fused kernel does not apply; the fast path copies no heads and "
                  "computes the batch in slices (in inference: training runs the reference path)",
        sweep_readable=False,
        lab_reads="heads",
        lab_claim=LabClaim(
            says="Reducing the keys and values by s keeps accuracy while it cuts the cost of attention",
            pairs=(("emsa", "none"), ("emsa", "emsa_s1"), ("emsa_s4", "emsa"))),
        collection=CollectionPeer(
            module="fightingcv_attention.attention.EMSA", same_function=True,
            keys={"sr_norm.weight": "sr_ln.weight", "sr_norm.bias": "sr_ln.bias",
                  "transform_conv.weight": "transform.conv.weight", "transform_conv.bias": "transform.conv.bias"}),
    ),
    Mechanism(
        name="se", cls=SEAttention, short="SE",
        title="Squeeze-and-Excitation Networks", authors="Hu, Shen, Sun", venue="CVPR", year=2018,
        arxiv="1709.01507", official_code="https://github.com/hujie-frank/SENet",
        kind="channel", chapter="book/se",
        compat_call="SEAttention(channel=512, reduction=8)", compat_input=(50, 512, 7, 7),
        make=lambda c: SEAttention(channel=c, reduction=8),
        bound="floor",
        lab_reads="channel",
        lab_claim=LabClaim(
            says="SE improves accuracy at little extra cost, across reduction ratios r (the paper's ablation: r = "
                 "16 balances accuracy and cost)",
            pairs=(("se", "none"), ("se_r2", "se"), ("se_r32", "se"))),
        collection=CollectionPeer(
            module="fightingcv_attention.attention.SEAttention", same_function=True,
            keys={"fc1.weight": "fc.0.weight", "fc2.weight": "fc.2.weight", "fc1.bias": None, "fc2.bias": None}),
    ),
    Mechanism(
        name="eca", cls=ECAAttention, short="ECA",
        title="ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
        authors="Wang, Wu, Zhu, Li, Zuo, Hu", venue="CVPR", year=2020, arxiv="1910.03151",
        official_code="https://github.com/BangguWu/ECANet",
        kind="channel", chapter="book/eca",
        compat_call="ECAAttention(kernel_size=3)", compat_input=(50, 512, 7, 7),
        make=lambda c: ECAAttention(channel=c),
        bound="floor",
        lab_reads="channel",
        lab_claim=LabClaim(
            says="ECA matches or beats SE without SE's dimensionality reduction, with far fewer parameters",
            pairs=(("eca", "none"), ("eca", "se"))),
        collection=CollectionPeer(module="fightingcv_attention.attention.ECAAttention", same_function=True),
    ),
    Mechanism(
        name="sk", cls=SKAttention, short="SK",
        title="Selective Kernel Networks", authors="Li, Wang, Hu, Yang", venue="CVPR", year=2019,
        arxiv="1903.06586", official_code="https://github.com/implus/SKNet",
        kind="channel", chapter="book/sk",
        compat_call="SKAttention(channel=512, reduction=8)", compat_input=(50, 512, 7, 7),
        make=lambda c: SKAttention(channel=c, reduction=8, group=min(32, c // 2)),
        bound="conv3x3", also_timed="grouped_conv3x3",
        lab_reads="branch",
        lab_claim=LabClaim(
            says="Selecting between kernels of different sizes (3x3 and 5x5) beats one size",
            pairs=(("sk", "none"), ("sk", "sk_k33"))),
        collection=CollectionPeer(
            module="fightingcv_attention.attention.SKAttention", same_function=False,
            differs="four plain branches (1x1, 3x3, 5x5, 7x7, groups 1: 22 M parameters) where the paper has "
                    "two grouped ones (3x3 and 3x3 dilated 2), and no BN or ReLU in the fuse step"),
    ),
    Mechanism(
        name="psa", cls=PSA, short="PSA",
        title="EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional Neural Network",
        authors="Zhang, Zu, Lu, Zou, Meng", venue="ACCV", year=2022, arxiv="2105.14447",
        official_code="https://github.com/murufeng/EPSANet",
        kind="channel", chapter="book/psa",
        compat_call="PSA(channel=512, reduction=8)", compat_input=(50, 512, 7, 7),
        make=lambda c: PSA(channel=c, reduction=4),
        bound="conv3x3",
        lab_reads="branch",
        lab_claim=LabClaim(
            says="Squeezing a pyramid of kernel sizes (3 to 9) beats a single scale",
            pairs=(("psa", "none"), ("psa", "psa_k3"))),
        collection=CollectionPeer(
            module="fightingcv_attention.attention.PSA", same_function=False,
            differs="its convolutions and SE blocks sit in plain lists (unregistered: no parameters to align), "
                    "without groups and with a bias, and four SE blocks where EPSANet shares one"),
    ),
    Mechanism(
        name="cbam", cls=CBAMBlock, short="CBAM",
        title="CBAM: Convolutional Block Attention Module", authors="Woo, Park, Lee, Kweon", venue="ECCV",
        year=2018, arxiv="1807.06521", official_code="https://github.com/Jongchan/attention-module",
        kind="spatial", chapter="book/cbam",
        compat_call="CBAMBlock(channel=512, reduction=16, kernel_size=7)", compat_input=(50, 512, 7, 7),
        make=lambda c: CBAMBlock(channel=c, reduction=8, kernel_size=7),
        bound="floor",
        lab_reads="spatial",
        lab_claim=LabClaim(
            says="CBAM improves accuracy, and channel-then-spatial is the best of the three orders",
            pairs=(("cbam", "none"), ("cbam", "cbam_spatial_channel"), ("cbam", "cbam_parallel"))),
        collection=CollectionPeer(
            module="fightingcv_attention.attention.CBAM", same_function=True, adds_input=True,
            keys={"fc1.weight": "ca.se.0.weight", "fc2.weight": "ca.se.2.weight", "fc1.bias": None, "fc2.bias": None,
                  "conv.weight": "sa.conv.weight", "conv.bias": "sa.conv.bias"},
            reversed_inputs=("conv.weight",)),
    ),
    Mechanism(
        name="bam", cls=BAMBlock, short="BAM",
        title="BAM: Bottleneck Attention Module", authors="Park, Woo, Lee, Kweon", venue="BMVC", year=2018,
        arxiv="1807.06514", official_code="https://github.com/Jongchan/attention-module",
        kind="spatial", chapter="book/bam",
        compat_call="BAMBlock(channel=512, reduction=16, dia_val=2)", compat_input=(50, 512, 7, 7),
        make=lambda c: BAMBlock(channel=c, reduction=8, dia_val=2),
        bound="floor",
        lab_reads="spatial",
        lab_claim=LabClaim(
            says="BAM improves accuracy, and dilating its spatial branch beats not dilating it",
            pairs=(("bam", "none"), ("bam", "bam_d1"))),
        collection=CollectionPeer(
            module="fightingcv_attention.attention.BAM", same_function=False,
            differs="three dilated convolutions padded by 1 that shrink a 7x7 map to 1x1 (its spatial map is one "
                    "number), three hidden layers in the channel MLP, and no BN on the branch outputs"),
    ),
    Mechanism(
        name="danet", cls=DAModule, short="DANet",
        title="Dual Attention Network for Scene Segmentation",
        authors="Fu, Liu, Tian, Li, Bao, Fang, Lu", venue="CVPR", year=2019, arxiv="1809.02983",
        official_code="https://github.com/junfu1115/DANet",
        kind="spatial", chapter="book/danet",
        compat_call="DAModule(d_model=512, kernel_size=3, H=7, W=7)", compat_input=(50, 512, 7, 7),
        make=lambda c: DAModule(d_model=c, kernel_size=3),
        bound="gemm",
        lab_reads="position",
        lab_claim=LabClaim(
            says="Dual attention improves accuracy over the dilated backbone alone",
            pairs=(("danet", "none"), ("danet", "none_wide"))),
        collection=CollectionPeer(
            module="fightingcv_attention.attention.DANet", same_function=False,
            differs="its constructor ignores its arguments; full-width Q/K with 1/sqrt(d) scaling, dropout and an "
                    "output projection in PAM, a learned 49x49 Linear in CAM, and no alpha/beta residual"),
    ),
]

MECHANISMS: dict[str, Mechanism] = {m.name: m for m in _ENTRIES}
"""The ten mechanisms, in the book's order of chapters."""


def get(name: str) -> Mechanism:
    """The registry entry ``name``; ValueError listing the known names otherwise."""
    try:
        return MECHANISMS[name]
    except KeyError:
        raise ValueError(f"unknown mechanism {name!r}; known: {', '.join(MECHANISMS)}") from None
