"""The lab's second task, where attention can matter: name the class of the largest disc.

On the first task (:mod:`attn_edu.lab.scenes`) the backbone without attention is already near
perfect, so no chapter can test whether a mechanism improves accuracy. Here a scene holds several
object discs, cut from the five object photos, and the label is the class of the **largest**: the
network has to compare sizes across the image and not just notice which objects are present,
which an average-pooled descriptor does poorly. (A feasibility study with the lab's recipe found
the backbone with average pooling far below one with max pooling and below self-attention; the
max-pooling head is the control every "attention helps" statement on this task must face.)

Construction of scene ``index`` of ``(split, seed)``, with its own generator
``numpy.random.default_rng([TASK_ID, split_id, seed, index])`` (deterministic per scene, any
order, a stream apart from the first task's):

1. background: a random ``64 x 64`` window of the lab's background photos, from the split's half
   (train: left half, test: right half), as in the first task;
2. the discs: the label's object and :data:`DISTRACTORS` (3 or 4) other object discs, plus
   :data:`TEXTURES` (0 or 1) discs of background texture. Each disc's side is drawn from
   :data:`SCALE_RANGE` (times 64 px); the draw is repeated until the largest side is at least
   :data:`MIN_RATIO` times the second (so "largest" is visible, not a matter of a pixel). The
   largest side goes to the label's object. A distractor's class is drawn with replacement from
   the other four classes (``distractors="others"``, the default) or from all five
   (``distractors="any"``: the label's class may also appear, smaller, which closes the shortcut
   "the class that is present but not among the small ones");
3. placement: largest first, each disc at a uniformly random position where it overlaps no disc
   already placed (its centre at least the sum of the radii from every other centre); after
   :data:`PLACE_TRIES` failed positions the whole layout (sizes included) is drawn again;
4. the objects are jittered and pasted as in the first task (sub-window, flip, brightness and
   contrast, soft-edged disc).

The scene's ``box`` and ``mask`` are the largest disc's, so the pointing game and mass on object of
:mod:`attn_edu.lab.evaluate` ask whether a map points at the object that decides the label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scenes import CLASSES, IMAGE_SIZE, Scene, SceneBatch, _disc, _object, _window, batch

TASK_ID = 2
"""The first number of every scene's random stream (the first task's streams do not start with it)."""
SCALE_RANGE = (0.14, 0.40)
"""A disc's side, as a fraction of the image side."""
MIN_RATIO = 1.15
"""The largest disc's side over the second largest's, at least."""
DISTRACTORS = (3, 4)
"""Inclusive range of the number of distractor object discs."""
TEXTURES = (0, 1)
"""Inclusive range of the number of texture discs."""
PLACE_TRIES = 200
"""Random positions tried for one disc before the layout is drawn again."""
TEST_SEED = 4321
TEST_SIZE = 1000
_SPLITS = {"train": 0, "test": 1}
_DISTRACTOR_CLASSES = ("others", "any")


@dataclass(frozen=True)
class Disc:
    """One disc of a largest-disc scene: ``label`` (a class index, None for a texture disc), its
    ``side`` in pixels and the ``top``, ``left`` corner of its square."""

    label: int | None
    side: int
    top: int
    left: int


def _sides(rng: np.random.Generator, n: int) -> list[int]:
    """``n`` disc sides in pixels, largest first, the largest at least :data:`MIN_RATIO` times the second."""
    while True:
        sides = sorted((int(round(rng.uniform(*SCALE_RANGE) * IMAGE_SIZE)) for _ in range(n)), reverse=True)
        if sides[0] >= MIN_RATIO * sides[1]:
            return sides


def _place(rng: np.random.Generator, sides: list[int]) -> list[tuple[int, int]] | None:
    """Top-left corners for discs of ``sides`` (in that order) that overlap no other; None if one
    finds no room in :data:`PLACE_TRIES` tries."""
    placed: list[tuple[float, float, float]] = []  # centre row, centre col, radius
    corners = []
    for side in sides:
        r = side / 2
        for _ in range(PLACE_TRIES):
            top, left = (int(v) for v in rng.integers(0, IMAGE_SIZE - side + 1, size=2))
            cy, cx = top + (side - 1) / 2, left + (side - 1) / 2
            if all((cy - y) ** 2 + (cx - x) ** 2 >= (r + q) ** 2 for y, x, q in placed):
                placed.append((cy, cx, r))
                corners.append((top, left))
                break
        else:
            return None
    return corners


def make_largest_scene(index: int, seed: int = 0, split: str = "train", *, label: int | None = None,
                       distractors: str = "others") -> Scene:
    """Scene ``index`` of the largest-disc stream ``(split, seed)``; deterministic.

    Args:
        index, seed: which scene; the same ``(split, seed, index, distractors)`` gives the same scene.
        split: ``"train"`` or ``"test"`` (disjoint background regions, as in the first task).
        label: force the class of the largest disc (default: uniform over :data:`CLASSES`).
        distractors: ``"others"`` (distractors from the four other classes) or ``"any"`` (from all
            five, the label's included).
    """
    return _make(index, seed, split, label, distractors)[0]


def largest_discs(index: int, seed: int = 0, split: str = "train", *, label: int | None = None,
                  distractors: str = "others") -> list[Disc]:
    """The discs of :func:`make_largest_scene`'s scene (same arguments), largest first: the layout
    behind the label, for tests and for questions about what the network could use."""
    return _make(index, seed, split, label, distractors)[1]


def _make(index: int, seed: int, split: str, label: int | None, distractors: str) -> tuple[Scene, list[Disc]]:
    name = "make_largest_scene"
    if split not in _SPLITS:
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}")
    if distractors not in _DISTRACTOR_CLASSES:
        raise ValueError(f"{name}: distractors must be one of {_DISTRACTOR_CLASSES}, got {distractors!r}")
    rng = np.random.default_rng([TASK_ID, _SPLITS[split], seed, index])
    lab = int(rng.integers(len(CLASSES))) if label is None else int(label)
    if not 0 <= lab < len(CLASSES):
        raise ValueError(f"{name}: label must be in [0, {len(CLASSES)}), got {label}")
    pool = [k for k in range(len(CLASSES)) if distractors == "any" or k != lab]
    n_obj = int(rng.integers(DISTRACTORS[0], DISTRACTORS[1] + 1))
    n_tex = int(rng.integers(TEXTURES[0], TEXTURES[1] + 1))
    # what each disc is: the label's object, distractor objects, textures (None)
    kinds: list[int | None] = [lab, *(pool[int(rng.integers(len(pool)))] for _ in range(n_obj)), *([None] * n_tex)]
    while True:
        sides = _sides(rng, len(kinds))
        order = [0, *(1 + rng.permutation(len(kinds) - 1))]  # the label's disc gets the largest side
        corners = _place(rng, sides)
        if corners is not None:
            break
    discs = [Disc(kinds[k], side, top, left) for side, (top, left), k in zip(sides, corners, order, strict=True)]
    img = _window(rng, split, IMAGE_SIZE).copy()
    for d in discs:
        a = _disc(d.side)[:, :, None]
        patch = _window(rng, split, d.side) if d.label is None else _object(rng, CLASSES[d.label], d.side)
        below = img[d.top : d.top + d.side, d.left : d.left + d.side]
        img[d.top : d.top + d.side, d.left : d.left + d.side] = a * patch + (1 - a) * below
    big = discs[0]
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    mask[big.top : big.top + big.side, big.left : big.left + big.side] = _disc(big.side) >= 0.5
    box = (big.top, big.left, big.top + big.side, big.left + big.side)
    return Scene(np.clip(img, 0, 1).astype(np.float32), lab, box, mask, big.side / IMAGE_SIZE), discs


def make_largest_scenes(n: int, seed: int = 0, split: str = "train", start: int = 0, **kwargs) -> SceneBatch:
    """Scenes ``start .. start+n-1`` of the largest-disc stream ``(split, seed)`` as a
    :class:`~attn_edu.lab.scenes.SceneBatch` (``scales``: the largest disc's). kwargs: see
    :func:`make_largest_scene`."""
    return batch([make_largest_scene(start + i, seed, split, **kwargs) for i in range(n)])


def largest_test_scenes(n: int = TEST_SIZE, distractors: str = "others") -> SceneBatch:
    """The task's fixed test set: the first ``n`` scenes of ``("test", TEST_SEED)``."""
    return make_largest_scenes(n, TEST_SEED, "test", distractors=distractors)
