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

With the same config, torch version and thread count the run is bit-for-bit repeatable; across
machines the floats may differ in the last bits, which is why the shipped weights, not a re-run,
are what the book and the tests evaluate.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..measure import threads
from .model import LabNet, build
from .scenes import make_scenes


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

    def asdict(self) -> dict:
        return dataclasses.asdict(self)


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
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = config.scenes_per_epoch // config.batch_size
    total = config.epochs * steps_per_epoch
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
            data = make_scenes(n, config.seed, "train", start=epoch * config.scenes_per_epoch)
            order = torch.randperm(len(data), generator=gen)
            for b in range(len(data) // config.batch_size):
                idx = order[b * config.batch_size : (b + 1) * config.batch_size]
                loss = F.cross_entropy(model(data.images[idx]), data.labels[idx])
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
    model.eval()
    return model, {"losses": losses, "train_seconds": time.perf_counter() - t0}
