"""Training the lab's models on freshly generated scenes; seeded and reproducible.

Recipe (:class:`TrainConfig`, recorded in ``weights/manifest.json`` next to each weight file):
AdamW, one-cycle learning rate (warm-up then cosine decay, peak 3e-3), cross-entropy, batch 64,
8 epochs of 3200 scenes (400 steps, 25 600 scenes). Uncontended on 2 CPU threads this takes
40 s (backbone alone, SE, ECA) to 2 min (EMSA, PSA) per model. Every epoch
draws ``scenes_per_epoch`` *new* training scenes (epoch ``e`` uses scenes
``e*scenes_per_epoch ...`` of the ``("train", seed)`` stream, so the model never sees a scene twice)
and visits them in an order drawn from a ``torch.Generator`` seeded with ``seed``. The model is
initialised with ``torch.manual_seed(seed)`` (:func:`attn_edu.lab.model.build`): that
initialisation is the lab's *untrained baseline* of each mechanism (see :mod:`attn_edu.lab.evaluate`).

Denormal floats are flushed to zero during training (``torch.set_flush_denormal(True)``): as
attention sharpens, softmax weights underflow into the denormal range, which is an order of
magnitude slower on CPUs and changes nothing else that matters.

**The second task** (``task="largest"``, :mod:`attn_edu.lab.largest`; :func:`largest_config`):
the same recipe at :data:`LARGEST_EPOCHS` epochs on :data:`LARGEST_THREADS` thread (two models
train at once), in torch's ``channels_last`` memory format (the grouped and depthwise
convolutions of PSA and EMSA train 2-3x faster in it on CPUs), and with the training scenes of
one stream (``data_seed`` 0) for every seed: the seeds vary the initialisation
and the order, so the spread over seeds is the spread of training, on the same data.
A process that trains several models on the same scenes makes them once (:func:`task_scenes`
keeps the last epochs it made).

With the same config, torch version and thread count the run is bit-for-bit repeatable; across
machines the floats may differ in the last bits, which is why the shipped weights, not a re-run,
are what the book and the tests evaluate.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..measure import threads
from ..registry import MECHANISMS
from .largest import make_largest_scenes
from .model import CONTROLS, LabNet, build
from .scenes import SceneBatch, make_scenes

TASKS = ("objects", "largest")
"""The lab's tasks: ``"objects"`` (:mod:`attn_edu.lab.scenes`, where the maps are judged) and
``"largest"`` (:mod:`attn_edu.lab.largest`, where accuracy is)."""
LARGEST_EPOCHS = 3
"""Epochs of 3200 scenes for the second task (150 steps of 64), chosen by the 30-minute budget for
its 69 models (the ten, the three controls and the ten variants of the claims, three seeds each).
On this project's 2-core machine one training step of the 23 models together took 3.8 s
(channels_last, 2 threads; 0.09 s for SE to 0.88 s for EMSA without reduction), so 200 steps would
need 38 minutes in one process; two processes of one thread each (:data:`LARGEST_THREADS`,
``python -m attn_edu.lab train --task largest --all --jobs 2``) train about 1.2 times as many
models per minute, and 150 steps fit. ``python -m attn_edu.lab steps`` measures accuracy against
length for the pooling controls and self-attention, up to 800 steps."""
LARGEST_THREADS = 1
"""Threads per training process for the second task: its models train two at a time, one per core."""
LARGEST_DISTRACTORS = "any"
"""The second task's distractor classes: from all five, the label's included (no shortcut; see
:mod:`attn_edu.lab.largest`)."""
LARGEST_SEEDS = (0, 1, 2)
"""The seeds every model of the second task is trained with."""
CLAIM_VARIANTS = ("se_r2", "se_r32", "sk_k33", "psa_k3", "cbam_spatial_channel", "cbam_parallel", "bam_d1",
                  "external_attention_softmax", "emsa_s1", "emsa_s4")
"""The variants the chapters' accuracy claims compare on the second task (:data:`~attn_edu.lab.VARIANTS`)."""
STEPS_MODELS = ("none", "none_max", "self_attention")
"""The models of the training-length study (``python -m attn_edu.lab steps``): the two pooling
controls and the mechanism that did best in the feasibility study."""
STEPS_EPOCHS = (2, LARGEST_EPOCHS, 8, 16)
"""Training lengths of that study, in epochs of 3200 scenes (100 to 800 steps; the shipped length among them,
so the study's models at it are the shipped seed-0 models, bit for bit)."""
LARGEST_MODELS = ("none", *CONTROLS, *MECHANISMS, *CLAIM_VARIANTS)
"""The second task's models, each trained at every seed of :data:`LARGEST_SEEDS`."""


@dataclass(frozen=True)
class TrainConfig:
    mechanism: str
    seed: int = 0
    epochs: int = 8
    scenes_per_epoch: int = 3200
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: float = 0.15  # share of the steps spent warming up
    threads: int = 2
    task: str = "objects"
    data_seed: int | None = None  # the training scenes' stream; None: ``seed`` (the first task's rule)
    channels_last: bool = False
    distractors: str | None = None  # the second task's distractor classes; None: LARGEST_DISTRACTORS

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"TrainConfig: task must be one of {TASKS}, got {self.task!r}")

    @property
    def steps(self) -> int:
        """Optimizer steps of the whole training: ``epochs`` times the batches of one epoch."""
        return self.epochs * (self.scenes_per_epoch // self.batch_size)

    def asdict(self) -> dict:
        """The config as the manifest records it; the second task's fields are left out where they
        hold their defaults, so a first-task config reads as it always did."""
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if k not in _SECOND_TASK_DEFAULTS or v != _SECOND_TASK_DEFAULTS[k]}

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config a manifest recorded (one written before a field existed gets its default)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {', '.join(unknown)} in {d!r}")
        return cls(**d)


_SECOND_TASK_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                         if f.name in ("task", "data_seed", "channels_last", "distractors")}


def largest_config(mechanism: str, seed: int = 0) -> TrainConfig:
    """The second task's recipe for ``mechanism`` at ``seed`` (see the module docstring)."""
    return TrainConfig(mechanism, seed=seed, epochs=LARGEST_EPOCHS, threads=LARGEST_THREADS, task="largest",
                       data_seed=0, channels_last=True)


def task_scenes(task: str, n: int, seed: int, split: str = "train", start: int = 0, *,
                cache: bool = False, distractors: str | None = None) -> SceneBatch:
    """Scenes ``start .. start+n-1`` of ``task``'s stream ``(split, seed)``; the second task's
    scenes are made with ``distractors`` (default :data:`LARGEST_DISTRACTORS`). With ``cache``, the
    last 16 batches asked for are kept (shared, not copied), so models trained one after another on
    the same scenes share them."""
    if task not in TASKS:
        raise ValueError(f"task_scenes: task must be one of {TASKS}, got {task!r}")
    distractors = LARGEST_DISTRACTORS if distractors is None else distractors
    return (_cached_scenes if cache else _make_task_scenes)(task, n, seed, split, start, distractors)


def _make_task_scenes(task: str, n: int, seed: int, split: str, start: int, distractors: str) -> SceneBatch:
    if task == "objects":
        return make_scenes(n, seed, split, start=start)
    return make_largest_scenes(n, seed, split, start=start, distractors=distractors)


_cached_scenes = functools.lru_cache(maxsize=16)(_make_task_scenes)


class _Progress:
    """A one-line textual progress bar on stderr (tqdm is not a dependency)."""

    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        self.total, self.desc, self.enabled, self.n = total, desc, enabled, 0
        self.t0 = time.perf_counter()

    def update(self, n: int = 1, **info: float) -> None:
        self.n += n
        if not self.enabled or (self.n % 10 and self.n != self.total):
            return
        el = time.perf_counter() - self.t0
        eta = el / self.n * (self.total - self.n)
        bar = "#" * int(30 * self.n / self.total)
        extra = " ".join(f"{k}={v:.3f}" for k, v in info.items())
        sys.stderr.write(f"\r{self.desc} [{bar:<30}] {self.n}/{self.total} {el:5.0f}s<{eta:4.0f}s {extra}  ")
        if self.n == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def train(config: TrainConfig, *, progress: bool = True, max_steps: int | None = None) -> tuple[LabNet, dict]:
    """Train one model from its seeded initialisation.

    Args:
        config: the recipe.
        progress: draw a progress line on stderr.
        max_steps: stop after this many steps (for tests); the schedule is still the full one's.

    While it trains, torch runs ``config.threads`` threads and flushes denormals; both settings are
    restored when it returns.

    Returns:
        ``(model in eval mode, log)`` with ``log = {"losses": [per-step loss], "train_seconds": ...}``.
    """
    torch.set_flush_denormal(True)  # peaked softmaxes underflow to denormals, which are ~10x slower on CPU
    try:
        with threads(config.threads):
            return _train(config, progress, max_steps)
    finally:  # torch's default back (off): torch has no getter for it
        torch.set_flush_denormal(False)


def _train(config: TrainConfig, progress: bool, max_steps: int | None) -> tuple[LabNet, dict]:
    model = build(config.mechanism, config.seed)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]  # torch accepts it; the stubs do not
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=config.warmup)
    gen = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    bar = _Progress(total if max_steps is None else min(total, max_steps), config.mechanism, progress)
    t0 = time.perf_counter()
    step = 0
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for epoch in range(config.epochs):
            n = config.scenes_per_epoch
            if max_steps is not None:
                n = min(n, max_steps * config.batch_size)
            data_seed = config.seed if config.data_seed is None else config.data_seed
            data = task_scenes(config.task, n, data_seed, "train", start=epoch * config.scenes_per_epoch,
                               cache=config.data_seed is not None, distractors=config.distractors)
            images = data.images.contiguous(memory_format=fmt)
            order = torch.randperm(len(data), generator=gen)
            for b in range(len(data) // config.batch_size):
                idx = order[b * config.batch_size : (b + 1) * config.batch_size]
                loss = F.cross_entropy(model(images[idx]), data.labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
                step += 1
                bar.update(1, loss=sum(losses[-20:]) / len(losses[-20:]))
                if max_steps is not None and step >= max_steps:
                    break
            if max_steps is not None and step >= max_steps:
                break
    model = model.to(memory_format=torch.contiguous_format).eval()
    return model, {"losses": losses, "train_seconds": time.perf_counter() - t0}
