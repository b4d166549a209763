"""The second task's answers to the papers' accuracy claims: accuracy over seeds, the controls
beside every "attention helps" comparison, and the words the numbers choose.

Every model of the second task (:mod:`attn_edu.lab.largest`) ships at the three seeds of
:data:`~attn_edu.lab.train.LARGEST_SEEDS`. Their metrics on the task's 1000 test scenes were
recorded in the manifest right after training (``python -m attn_edu.lab evaluate --task largest
--record``), and ``tests/test_lab_largest_weights.py`` reproduces every one from the weights
(accuracy exactly). :func:`accuracy`, :func:`recorded` and :func:`ablation` read them;
``accuracy(names, live=True)`` runs the weights again here.

**How firmly three seeds decide.** Two models are *separated* when every seed of one is more
accurate than every seed of the other (:func:`separation`). If they did not differ, each of the
C(6, 3) = 20 ways their six results could fall in order would be as likely as any other, and two
of them separate the models, one each way: a separation happens by chance with probability 1/10
(:data:`CHANCE_SEPARATED`), 1/20 in a named direction. Anything else is *overlapping*: the seeds do
not decide, which is not the same as "no difference".

**The controls** (:data:`CONTROL_NAMES`): ``none`` pools the whole map by its average, ``none_max``
by its maximum, and ``none_wide`` is the backbone widened to DANet's parameter count. A
comparison against ``none`` is an "attention helps" statement; :func:`claim_words` states the
max-pooling control beside each one (the book's lab chapter, section "A task where attention
matters").
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

import torch

from ..measure import count_flops, count_params
from ..registry import MECHANISMS, LabClaim
from .evaluate import largest_accuracy
from .largest import largest_test_scenes
from .model import CONTROLS, LARGEST_VARIANTS, MODELS, VARIANTS, build
from .scenes import IMAGE_SIZE, SceneBatch
from .store import key, load, manifest
from .train import LARGEST_DISTRACTORS, LARGEST_MODELS, LARGEST_SEEDS, largest_config

CONTROL_NAMES = ("none", *CONTROLS)
"""The second task's controls, in the order tables list them: average pooling, max pooling, wide."""
CHANCE_SEPARATED = 2 / math.comb(2 * len(LARGEST_SEEDS), len(LARGEST_SEEDS))
"""The probability that two models that do not differ come out separated (see the module docstring)."""


@dataclass(frozen=True)
class Seeds:
    """One value per training seed (in :data:`~attn_edu.lab.train.LARGEST_SEEDS` order).

    ``f"{s:.3f}"`` gives ``"0.812 ± 0.013"``: the mean and the sample standard deviation over seeds."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("Seeds: expected at least one value, got none")

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.mean:{spec}} ± {self.sd:{spec}}"


def _check_models(who: str, names: object) -> list[str]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{who}: expected a list of model names, got {names!r}")
    unknown = [n for n in names if n not in LARGEST_MODELS]
    if unknown:
        raise ValueError(f"{who}: {', '.join(map(repr, unknown))} is not a model of the second task; "
                         f"known: {', '.join(LARGEST_MODELS)}")
    return list(names)


def describe(name: str) -> str:
    """The one line tables print for a lab model: its mechanism's short name, its variant or control."""
    if name in MECHANISMS:
        return MECHANISMS[name].short
    if name in CONTROLS:
        return CONTROLS[name]
    variant = VARIANTS.get(name) or LARGEST_VARIANTS.get(name)
    if variant is not None:
        return variant.what
    if name == "none":
        return "no attention, global average pooling"
    raise ValueError(f"describe: unknown lab model {name!r}")


def accuracy(names: list[str] | tuple[str, ...], scenes: SceneBatch | None = None, *,
             live: bool = False) -> dict[str, Seeds]:
    """``{name: Seeds}``: the test accuracy of each seed's shipped weights.

    By default the counts the manifest recorded right after training (``tests/test_lab_largest_weights.py``
    reproduces every one of them from the weights, exactly); with ``live``, the weights are run here
    on ``scenes`` (default: the task's test set, where each count must equal the record, else
    ValueError). Running all 69 takes over a minute on 2 cores, so the chapters read the record and
    re-run a few."""
    names = _check_models("accuracy", names)
    shipped = manifest("largest")
    if not live:
        if scenes is not None:
            raise ValueError("accuracy: scenes are only used with live=True (the record is on the test set)")
        return {name: recorded(name, shipped=shipped) for name in names}
    test = largest_test_scenes(distractors=LARGEST_DISTRACTORS) if scenes is None else scenes
    out = {}
    for name in names:
        values = []
        for seed, entry in zip(LARGEST_SEEDS, _seed_metrics(name, shipped), strict=True):
            got = largest_accuracy(load(name, task="largest", seed=seed), test)
            want = entry["accuracy"]
            if scenes is None and got != want:
                raise ValueError(f"accuracy: {name} at seed {seed} classifies {got:.3f} of the test scenes "
                                 f"here, the manifest recorded {want:.3f}")
            values.append(got)
        out[name] = Seeds(tuple(values))
    return out


def _seed_metrics(name: str, shipped: dict) -> list[dict]:
    """The recorded metrics of ``name`` at each seed, from the manifest ``shipped``."""
    return [shipped[key(name, "largest", s)]["metrics"] for s in LARGEST_SEEDS]


def recorded(name: str, metric: str = "accuracy", *, shipped: dict | None = None) -> Seeds:
    """The manifest's ``metric`` of ``name`` over the seeds (``"pointing_game"``, ``"accuracy"``);
    ``shipped``: the second task's manifest, where the caller has read it already."""
    (name,) = _check_models("recorded", [name])
    entries = _seed_metrics(name, manifest("largest") if shipped is None else shipped)
    if any(metric not in e for e in entries):
        raise ValueError(f"recorded: {name} has no recorded {metric!r}; it has {', '.join(entries[0])}")
    return Seeds(tuple(float(e[metric]) for e in entries))


def ablation(name: str) -> dict[str, Seeds]:
    """``{site: Seeds}``: the recorded accuracy of ``name`` with one ablation site's weights replaced
    by their per-image mean (:func:`attn_edu.lab.ablation_accuracy`), over the seeds; ``{}`` for a
    model without attention."""
    (name,) = _check_models("ablation", [name])
    entries = [e.get("ablation", {}) for e in _seed_metrics(name, manifest("largest"))]
    return {site: Seeds(tuple(e[site] for e in entries)) for site in entries[0]}


def separation(a: Seeds, b: Seeds) -> str:
    """``"higher"`` if every seed of ``a`` is above every seed of ``b``, ``"lower"`` if below, else
    ``"overlapping"`` (see the module docstring for how often chance separates)."""
    if not isinstance(a, Seeds) or not isinstance(b, Seeds):
        raise TypeError(f"separation: expected two Seeds, got {type(a).__name__} and {type(b).__name__}")
    if a.lo > b.hi:
        return "higher"
    if a.hi < b.lo:
        return "lower"
    return "overlapping"


@dataclass(frozen=True)
class Cost:
    """What one model costs per ``3 x 64 x 64`` image: ``parameters`` (all of the network's),
    ``slot_parameters`` (the attention module's) and ``flops`` (matmuls and convolutions of one
    forward on the readable path, as ``torch.utils.flop_counter`` counts them)."""

    parameters: int
    slot_parameters: int
    flops: int


@functools.cache
def cost(name: str) -> Cost:
    """The :class:`Cost` of the lab model ``name`` (any of :data:`~attn_edu.lab.MODELS`; counted on
    its seed-0 initialisation, once per process: the tables and the figure ask again)."""
    if name not in MODELS:
        raise ValueError(f"cost: unknown lab model {name!r}; known: {', '.join(MODELS)}")
    model = build(name).eval()
    x = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        flops = count_flops(lambda: model.run(x))  # run(): fused paths take their readable path
    return Cost(count_params(model), count_params(model.attention), flops)


def steps() -> int:
    """The training steps of every shipped model of the second task."""
    return largest_config("none").steps


# --- a chapter's claim --------------------------------------------------------------------------


def _lab_claim(who: str, mechanism: str) -> LabClaim:
    if mechanism not in MECHANISMS:
        raise ValueError(f"{who}: expected one of {', '.join(MECHANISMS)}, got {mechanism!r}")
    return MECHANISMS[mechanism].lab_claim


def claim_models(mechanism: str) -> tuple[str, ...]:
    """The models a chapter's claim table shows: the claim's own (``lab_claim.models``), then the controls."""
    own = [n for n in _lab_claim("claim_models", mechanism).models if n not in CONTROL_NAMES]
    return (*own, *CONTROL_NAMES)


def claim_table(mechanism: str, acc: dict[str, Seeds]) -> str:
    """A Markdown table of :func:`claim_models` with cost, accuracy (mean ± sd over seeds) and each seed."""
    rows = ["| model | parameters | MFLOPs per image | accuracy, mean ± sd | "
            + " | ".join(f"seed {s}" for s in LARGEST_SEEDS) + " |",
            "|---|---:|---:|---:|" + "---:|" * len(LARGEST_SEEDS)]
    for name in claim_models(mechanism):
        c, a = cost(name), acc[name]
        rows.append(f"| `{name}`: {describe(name)} | {c.parameters:,} | {c.flops / 1e6:.1f} | {a:.3f} | "
                    + " | ".join(f"{v:.3f}" for v in a.values) + " |")
    return "\n".join(rows)


WORDS = {"higher": "more accurate than", "lower": "less accurate than", "overlapping": "not separated from"}
"""The words for each outcome of :func:`separation`, before the other model's name."""


def compared(a: str, b: str, acc: dict[str, Seeds]) -> str:
    """``"`se` (0.812 ± 0.013) is more accurate than `none` (0.789 ± 0.008) on every seed"``, the
    words chosen by :func:`separation`."""
    s = separation(acc[a], acc[b])
    tail = " on every seed" if s != "overlapping" else " (their seed ranges overlap)"
    return f"`{a}` ({acc[a]:.3f}) is {WORDS[s]} `{b}` ({acc[b]:.3f}){tail}"


def claim_words(mechanism: str, acc: dict[str, Seeds]) -> str:
    """The answer to ``mechanism``'s :class:`~attn_edu.registry.LabClaim`, one sentence per pair; each
    comparison against ``none`` is followed by the same model against the max-pooling control."""
    sentences = []
    for a, b in _lab_claim("claim_words", mechanism).pairs:
        sentences.append(compared(a, b, acc))
        if b == "none":
            sentences.append(f"beside the max-pooling control, {compared(a, 'none_max', acc)}")
    return "; ".join(sentences) + "."
