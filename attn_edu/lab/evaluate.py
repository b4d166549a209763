"""Does a trained mechanism's map mean something? Accuracy, pointing game, mass, selectivity, randomization.

All numbers are computed on the fixed test scenes (:func:`attn_edu.lab.scenes.test_scenes`,
500 scenes whose backgrounds are disjoint from training's).

**The map of each mechanism** (:func:`read_map`, :func:`attention_map`): one forward,
:meth:`LabNet.run`, hands back every map the slot's module emitted; the registry's ``lab_reads``
names the one the lab reads, and its kind (:data:`attn_edu.introspect.KINDS`) says how
(:data:`READERS`):

* ``spatial`` (CBAM's and BAM's ``spatial``, ``B H W``, 16 x 16): the gate itself.
* ``token`` (self-attention's and EMSA's ``heads``, DANet's ``position``, ``B h N M``): the
  attention each *key* position receives, averaged over queries and heads, ``mean_{h,n} a_{h,n,m}``
  (``B h N M`` -> ``B M`` -> grid; 16 x 16, EMSA's reduced keys 8 x 8). For self-attention and EMSA
  in :class:`LabNet` this is exactly the weight of each position in the pooled descriptor (see
  :mod:`attn_edu.lab.model`); for EMSA it is the softmax map (``heads``), before EMSA's instance norm.
* ``memory`` (External Attention's ``memory``, ``B N S``): weights with no spatial competition of
  their own to read (each token's row is normalised over the memory units), so the map is the
  *attention-weighted class evidence*: ``m_n = sum_s a_{n,s} relu(u_{c,s})``, with ``u = W_cls M_v``
  the vote of memory unit ``s`` for the predicted class ``c`` (``M_v``: the emitting module's value
  memory ``mv``; in :class:`LabNet` the class logit is ``mean_n sum_s a_{n,s} u_{c,s}`` plus a bias,
  so ``m`` is the share of each token's attention that goes to units voting for the class).
* ``channel`` (SE's and ECA's ``channel``, ``B C``), ``branch`` (SK's and PSA's ``branch``,
  ``B K C``): a vector of channel / branch weights; no spatial map. :func:`read_map` keeps
  ``B K C``; :func:`attention_map` flattens it to ``B (K C)``.

Which of the two a mechanism gives is its registry ``map_kind`` (:func:`map_kind`).

**Metrics** (:func:`evaluate_model`):

* ``accuracy``: share of test scenes classified correctly.
* ``pointing_game``: share of test scenes where the map's maximum cell, taken at its centre in
  image pixels, lies inside the object box (ties between maximal cells, e.g. a saturated sigmoid
  gate, count the share of tied cells inside the box: the hit rate of a random tie-break).
  ``pointing_chance``: the mean share of the image the box covers (a uniformly random point's hit
  rate).
* ``mass_on_object``: share of the map's mass (clipped at 0, each cell spread uniformly over its
  pixels) on the object mask; ``mass_chance``: the mean share of the image the mask covers.
* ``class_selectivity`` (channel mechanisms): for each channel/branch weight, between-class
  variance over total variance across test scenes (eta squared), averaged over weights;
  ``selectivity_chance``: the same with the labels permuted (seed 0).
* ``randomization_change``: ``1 - Spearman rank correlation`` between the map of the trained
  model and the map of the same architecture at its seeded initialisation (the *untrained
  baseline*: full randomization of every weight, Adebayo et al. 2018), averaged over test scenes;
  the baseline is run in float64 (see :func:`evaluate_model`).
  Near 0: the map does not depend on what was learned, so it cannot explain the model; near 1:
  unrelated maps.

Reproducibility: with the shipped weights, accuracy is reproduced exactly (a count over a fixed
set), the pointing game within ``1e-4`` like the float metrics and the float metrics within ``1e-4`` absolute (float
reductions in another thread count or torch version may change the last bits).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import registry
from ..introspect import AttentionMap, ablate, per_image_mean
from .model import NAMES, LabNet, LabOutput, mechanism_of
from .scenes import CLASSES, IMAGE_SIZE, PHOTO_OF, SceneBatch, class_photos, test_scenes

TOLERANCE = 1e-4
"""Absolute tolerance on the float metrics when reproducing recorded values."""


def map_kind(name: str) -> str | None:
    """``"spatial"`` (a map over the image), ``"channel"`` (a weight vector) or ``None`` (no attention),
    for a lab model of :data:`~attn_edu.lab.NAMES` (a mechanism, a variant or ``"none"``): the
    registry's :attr:`~attn_edu.registry.Mechanism.map_kind` of the mechanism it instantiates."""
    mechanism = mechanism_of(name)
    return None if mechanism == "none" else registry.get(mechanism).map_kind


def _grid(out: LabOutput) -> tuple[int, int]:
    return out.features.shape[2], out.features.shape[3]


def _as_emitted(m: AttentionMap, model: LabNet, out: LabOutput) -> Tensor:
    return m.tensor  # B H W (a spatial gate), B C or B K C (channel and branch weights)


def _received(m: AttentionMap, model: LabNet, out: LabOutput) -> Tensor:
    received = m.tensor.mean(dim=(1, 2))  # B h N M -> B M
    return received.unflatten(1, m.kv_hw or _grid(out))  # B M -> B h w


def _class_evidence(m: AttentionMap, model: LabNet, out: LabOutput) -> Tensor:
    a = m.tensor  # B N S
    values = model.get_submodule(m.module).get_parameter("mv.weight")  # C S: M_v, what each memory unit writes
    u = model.classifier.weight @ values  # K C, C S -> K S
    vote = u[out.logits.argmax(1)].clamp(min=0)  # B S
    return (a * vote[:, None]).sum(-1).unflatten(1, _grid(out))  # B N S -> B N -> B h w


READERS: dict[str, Callable[[AttentionMap, LabNet, LabOutput], Tensor]] = {
    "spatial": _as_emitted, "token": _received, "memory": _class_evidence, "channel": _as_emitted,
    "branch": _as_emitted,
}
"""How the lab reads an emitted map, by its kind (see the module docstring)."""


def read_map(model: LabNet, out: LabOutput) -> Tensor:
    """The lab's map of ``model`` from one ``out = model.run(images)``: ``B h w`` for spatial and
    token mechanisms, the weights as emitted (``B C``, ``B K C``) for channel ones.

    In the caller's grad mode, like :meth:`LabNet.run` (a memory map's class evidence is computed
    from the classifier's weights): call both inside ``torch.no_grad()`` to get plain tensors."""
    if model.mechanism == "none":
        raise ValueError("read_map: the 'none' model has no attention")
    m = out.slot(registry.get(model.mechanism).lab_reads)
    return READERS[m.kind](m, model, out)


@torch.no_grad()
def attention_map(model: LabNet, images: Tensor) -> tuple[Tensor, Tensor]:
    """``(logits, map)`` for a batch (in eval mode): map ``B h w`` for spatial/token mechanisms,
    ``B D`` for channel ones (SK's and PSA's ``B K C`` flattened to ``B (K C)``; :meth:`LabNet.run`
    and :func:`read_map` keep them structured)."""
    if model.mechanism == "none":
        raise ValueError("attention_map: the 'none' model has no attention")
    model.eval()
    out = model.run(images)
    m = read_map(model, out)
    return out.logits, m.flatten(1) if map_kind(model.mechanism) == "channel" else m  # B K C -> B (K C)


def _upsample(m: Tensor) -> Tensor:
    """``B h w`` -> ``B 64 64``, each cell a block of pixels."""
    return torch.nn.functional.interpolate(m[:, None].float(), size=(IMAGE_SIZE, IMAGE_SIZE), mode="nearest")[:, 0]


def pointing(maps: Tensor, boxes: Tensor) -> Tensor:
    """Per scene: the share of the map's maximal cells whose centre falls in the box (float ``B``).

    With one maximum this is 1 (hit) or 0 (miss). Saturated gates (a sigmoid at exactly 1.0 over
    many cells, as CBAM's can be) tie; the score is then the hit rate of a maximum drawn at random
    among the tied cells, so the order in which cells are scanned cannot decide a hit.
    """
    b, h, w = maps.shape
    r = (torch.arange(h, dtype=torch.float32) + 0.5) * IMAGE_SIZE / h
    c = (torch.arange(w, dtype=torch.float32) + 0.5) * IMAGE_SIZE / w
    inside_r = (r[None] >= boxes[:, :1]) & (r[None] < boxes[:, 2:3])  # B h
    inside_c = (c[None] >= boxes[:, 1:2]) & (c[None] < boxes[:, 3:4])  # B w
    inside = inside_r[:, :, None] & inside_c[:, None, :]  # B h w
    top = maps == maps.flatten(1).amax(1)[:, None, None]  # B h w
    return (top & inside).sum(dim=(1, 2)).double() / top.sum(dim=(1, 2)).double()


def mass_on_object(maps: Tensor, masks: Tensor) -> Tensor:
    """Per scene: share of the (clipped, upsampled) map's mass on the mask."""
    up = _upsample(maps.clamp(min=0))
    total = up.sum(dim=(1, 2)).clamp(min=1e-12)
    return (up * masks).sum(dim=(1, 2)) / total


def class_selectivity(weights: Tensor, labels: Tensor, num_classes: int) -> float:
    """Mean over weights of between-class variance / total variance (eta squared)."""
    w = weights.double()
    total = w.var(dim=0, unbiased=False)
    mean = w.mean(0)
    between = torch.zeros_like(total)
    for k in range(num_classes):
        sel = labels == k
        if sel.any():
            between += sel.double().mean() * (w[sel].mean(0) - mean) ** 2
    keep = total > 1e-12
    return float((between[keep] / total[keep]).mean()) if keep.any() else 0.0


def _ranks(x: Tensor) -> Tensor:
    """Per-row ranks 0..D-1 of a ``B D`` tensor, tied values sharing the mean of the ranks they span
    (fractional ranking, as Spearman's coefficient is defined with ties)."""
    ordered = x.sort(dim=1).values.contiguous()
    first = torch.searchsorted(ordered, x.contiguous(), right=False)  # rank of a value's first copy
    last = torch.searchsorted(ordered, x.contiguous(), right=True) - 1  # and of its last
    return (first + last).double() / 2


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Per-row Spearman rank correlation of two ``B D`` tensors (0 where a row is constant); tied
    values get the mean of their ranks, so a map that is mostly one value (a binary mask, a
    saturated gate) is compared by its levels, not by the positions of its tied cells."""
    ra, rb = _ranks(a.flatten(1)), _ranks(b.flatten(1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    den = (ra.norm(dim=1) * rb.norm(dim=1)).clamp(min=1e-12)
    return (ra * rb).sum(1) / den


def evaluate_model(model: LabNet, untrained: LabNet | None = None, scenes: SceneBatch | None = None) -> dict:
    """The metrics of one model on ``scenes`` (default: the test scenes). ``untrained`` is needed
    for ``randomization_change``; see the module docstring for every definition."""
    scenes = test_scenes() if scenes is None else scenes
    name = model.mechanism
    model.eval()
    out: dict = {}
    if map_kind(name) is None:
        with torch.no_grad():
            logits = model(scenes.images)
        out["accuracy"] = float((logits.argmax(1) == scenes.labels).double().mean())
        return out
    logits, maps = attention_map(model, scenes.images)
    out["accuracy"] = float((logits.argmax(1) == scenes.labels).double().mean())
    if map_kind(name) == "spatial":
        out["pointing_game"] = float(pointing(maps, scenes.boxes).double().mean())
        out["pointing_chance"] = float(scenes.box_share.mean())
        out["mass_on_object"] = float(mass_on_object(maps, scenes.masks).double().mean())
        out["mass_chance"] = float(scenes.mask_share.mean())
    else:
        k = int(logits.shape[1])
        perm = torch.randperm(len(scenes.labels), generator=torch.Generator().manual_seed(0))
        out["class_selectivity"] = class_selectivity(maps, scenes.labels, k)
        out["selectivity_chance"] = class_selectivity(maps, scenes.labels[perm], k)
    if untrained is not None:
        # The untrained baseline's maps are nearly uniform for some mechanisms (EMSA's softmax at
        # init): in float32 the ranks of their nearly equal values are decided by rounding, and so
        # by the CPU's kernels (emsa_s1: 1.065, 1.076 and 1.078 on three kernels). In float64 the
        # ranks follow the weights (1.120 on all three), so the baseline runs in float64.
        _, rmaps = attention_map(copy.deepcopy(untrained).double(), scenes.images.double())
        out["randomization_change"] = float((1 - spearman(maps, rmaps)).mean())
    return out


def evaluate(names: list[str] | None = None, scenes: SceneBatch | None = None) -> dict:
    """``{"mechanisms": {name: metrics}}`` for the shipped weights of ``names`` (default: all)."""
    from .store import load, untrained

    result = {}
    for name in names or list(NAMES):
        model = load(name)
        result[name] = evaluate_model(model, untrained(name) if name != "none" else None, scenes)
    return {"mechanisms": result}


def half_max_share(response: Tensor) -> float:
    """The share of the cells of a map (any shape) above half its maximum: how broadly a response
    spreads, e.g. a branch's output over the grid (book: the SK and PSA chapters compare their
    branches with it). A map whose maximum is not above 0 raises ValueError."""
    if not isinstance(response, Tensor) or response.numel() == 0:
        raise TypeError(f"half_max_share: expected a non-empty tensor, got {type(response).__name__}")
    peak = response.max()
    if not bool(peak > 0):
        raise ValueError(f"half_max_share: the map's maximum must be above 0, got {float(peak):.3g}")
    return float((response > 0.5 * peak).double().mean())


def top_channel(model: LabNet, gate: Tensor, features: Tensor, logits: Tensor) -> Tensor:
    """Per image, the channel ``c`` with the largest contribution ``w_{k,c} g_c mean(z_c)`` to the
    logit of the predicted class ``k`` (``B C`` gates, ``B C H W`` features entering the gate,
    ``B K`` logits -> ``B``): in :class:`LabNet` the logit is ``sum_c w_{k,c} g_c mean(z_c)`` plus a
    bias, so this is the channel the decision leans on most (book: the SE and ECA chapters)."""
    contrib = model.classifier.weight[logits.argmax(1)] * gate * features.mean(dim=(2, 3))  # B C
    return contrib.argmax(1)


@dataclass(frozen=True)
class ChannelExamples:
    """One test scene of each class, then each class's whole photograph, through a channel-gate
    model (:func:`channel_examples`): what the SE and ECA chapters' explorers show."""

    images: np.ndarray
    """``E H W 3`` (the figures' layout): the scenes, then the photos."""
    names: list[str]
    """What each example is and what the model predicted."""
    gates: Tensor
    """``E C``, the emitted channel weights."""
    features: Tensor
    """``E C H W``, the map entering the gate."""
    logits: Tensor
    marked: Tensor
    """``E``: :func:`top_channel` of each example."""
    n_scenes: int = 0
    """How many of the examples are test scenes (the first ones); the rest are the class photos."""

    @property
    def marked_maps(self) -> Tensor:
        """``E H W``: each example's feature map of its marked channel."""
        return self.features[torch.arange(len(self.marked)), self.marked]


@torch.no_grad()
def channel_examples(model: LabNet, scenes: SceneBatch, indices: list[int] | None = None, *,
                     photos: bool = True) -> ChannelExamples:
    """:class:`ChannelExamples` of ``model`` (its slot emits a ``channel`` map: SE, ECA) on the
    scenes ``indices`` of ``scenes`` (default: the first scene of each class), then, with ``photos``,
    on the class photos (:func:`~attn_edu.lab.class_photos`). Drawn by
    :func:`attn_edu.viz.plot_channel_examples` and :func:`attn_edu.viz.plotly_channel_weights`."""
    one_each = scenes.one_per_class() if indices is None else [int(i) for i in indices]
    if not all(0 <= i < len(scenes) for i in one_each):
        raise ValueError(f"channel_examples: indices must lie in [0, {len(scenes)}), got {one_each}")
    parts = [scenes.images[one_each]] + ([class_photos(IMAGE_SIZE)] if photos else [])
    batch = torch.cat(parts)  # E 3 H W: the scenes, then the photos
    out = model.eval().run(batch)
    pred = out.logits.argmax(1).tolist()
    names = [f"test scene {i} ({CLASSES[int(scenes.labels[i])]}), predicted {CLASSES[p]}"
             for i, p in zip(one_each, pred, strict=False)]
    names += [f"whole photo '{PHOTO_OF[c]}', predicted {CLASSES[p]}"
              for c, p in zip(CLASSES, pred[len(one_each):], strict=False)]
    gates = out.slot("channel").tensor
    images = batch.permute(0, 2, 3, 1).numpy()  # E 3 H W -> E H W 3
    return ChannelExamples(images, names, gates, out.features, out.logits,
                           top_channel(model, gates, out.features, out.logits), len(one_each))


# --- the second task (attn_edu.lab.largest): accuracy, the pointing game, ablations ---------------

CHUNK = 250
"""Scenes per forward when evaluating the second task (1000 scenes' token maps at once would take
gigabytes)."""


@torch.no_grad()
def _logits(model: LabNet, images: Tensor, edits: dict | None = None) -> Tensor:
    if edits is None:
        return torch.cat([model(chunk) for chunk in images.split(CHUNK)])
    with ablate(model, edits):
        return torch.cat([model(chunk) for chunk in images.split(CHUNK)])


def sites(model: LabNet) -> list[str]:
    """The ablation sites (:func:`attn_edu.ablate`) a forward of ``model`` passes, in call order:
    ``["attention/spatial", ...]``; ``[]`` for a model without attention."""
    if model.mechanism == "none":
        return []
    with torch.no_grad(), ablate(model, {}) as seen:
        model.eval()(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE))
    return list(seen)


def ablation_accuracy(model: LabNet, scenes: SceneBatch) -> dict[str, float]:
    """``{site: accuracy}`` with that one site's weights replaced by their per-image mean
    (:func:`attn_edu.per_image_mean`: a gate that no longer tells positions, channels or branches
    apart, softmax attention made uniform), every other weight as trained."""
    model.eval()
    return {site: float((_logits(model, scenes.images, {site: per_image_mean}).argmax(1) == scenes.labels)
                        .double().mean()) for site in sites(model)}


def largest_accuracy(model: LabNet, scenes: SceneBatch) -> float:
    """The share of ``scenes`` ``model`` classifies correctly, from its own forward (the fast path,
    in chunks): the count :func:`evaluate_largest` records."""
    model.eval()
    return float((_logits(model, scenes.images).argmax(1) == scenes.labels).double().mean())


def evaluate_largest(model: LabNet, scenes: SceneBatch | None = None) -> dict:
    """The second task's metrics of one model on ``scenes`` (default: its test set,
    :func:`attn_edu.lab.largest_test_scenes` with the training's distractors): ``accuracy``; for
    spatial and token mechanisms ``pointing_game`` (does the map's maximum fall in the *largest*
    disc's box) and ``pointing_chance``; ``ablation``: :func:`ablation_accuracy`."""
    from .largest import largest_test_scenes
    from .train import LARGEST_DISTRACTORS

    scenes = largest_test_scenes(distractors=LARGEST_DISTRACTORS) if scenes is None else scenes
    out: dict = {"accuracy": largest_accuracy(model, scenes)}
    if map_kind(model.name) == "spatial":  # the maps from the readable path (attention_map), in chunks
        maps = torch.cat([attention_map(model, chunk)[1] for chunk in scenes.images.split(CHUNK)])
        out["pointing_game"] = float(pointing(maps, scenes.boxes).double().mean())
        out["pointing_chance"] = float(scenes.box_share.mean())
    if model.mechanism != "none":
        out["ablation"] = ablation_accuracy(model, scenes)
    return out
