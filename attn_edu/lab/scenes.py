"""Cluttered scenes made of real photographs: an object crop pasted on a real background.

A scene is a ``64 x 64`` RGB image in [0, 1] with one object of one of :data:`CLASSES` (a crop of
a real photograph shipped by scikit-image), a class label, the object's bounding box and its
exact mask. Everything else in the scene is clutter cut from *other* real photographs and
textures: a background crop plus 1-3 elliptic distractor patches of the same size range as the
object, so that a classifier has to find the object among object-like blobs (on a plain background
it could solve the task without looking anywhere in particular).

Construction of scene ``index`` of ``(split, seed)``, with its own generator
``numpy.random.default_rng([split_id, seed, index])`` (so any scene can be made alone, in any
order, and always comes out the same):

1. background: a random ``64 x 64`` window (random flips) of one of :data:`BACKGROUNDS`, each
   photo centre-cropped to a square and resized to ``160 x 160``;
2. distractors: 1-3 discs of the same size range as the object, each a window of a random
   background photo, blended with the soft elliptic mask described below;
3. the object: the class's crop (:data:`OBJECTS`, a fixed box in the source photo) with a random
   sub-window (85-100 % of the box, random offset), random horizontal flip and brightness /
   contrast jitter, resized to ``side x side`` pixels and pasted last (nothing covers it) through a
   soft-edged disc inscribed in its square box.

The *mask* is the disc (the pixels where the paste weight is >= 0.5) and the *box* is the square
``(top, left, bottom, right)`` it is inscribed in (bottom/right exclusive): both are known exactly,
not annotated; the mask touches the box up to its one-pixel soft edge. Object scale
(``side = round(scale * 64)``, default ``scale ~ U(0.3, 0.45)``, i.e. a box of about 15 % of the
image) and position (``center=(row, col)`` as fractions of the image, default uniform over the
positions where the box fits) can be fixed by arguments.

Train and test are disjoint in this sense: every background and distractor window of the
``"train"`` split comes from the left half (columns 0-79) of the ``160 x 160`` background photos,
every one of the ``"test"`` split from the right half (columns 80-159), so no background pixel is
shared; the random streams differ (``split_id`` 0 or 1). The objects are the same five photo
crops in both splits (with independent jitter): the test measures whether the model finds a known
object on unseen clutter, not whether it generalises to new object instances.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ..images import load_photo

IMAGE_SIZE = 64
"""Side of a scene in pixels."""

CLASSES = ("astronaut", "cat", "coffee", "rocket", "coin")
"""The object classes, in label order."""

OBJECTS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "astronaut": ("astronaut", (30, 150, 200, 320)),  # Eileen Collins's face
    "cat": ("chelsea", (20, 110, 250, 340)),  # Chelsea's head
    "coffee": ("coffee", (40, 120, 360, 480)),  # the cup on its saucer
    "rocket": ("rocket", (40, 150, 410, 500)),  # the Falcon 9 on its pad
    "coin": ("coins", (5, 10, 90, 95)),  # one Greek coin (greyscale)
}
"""Class -> (photo in :data:`attn_edu.images.PHOTOS`, box ``(top, left, bottom, right)`` in the original photo)."""

PHOTO_OF = {cls: photo for cls, (photo, _) in OBJECTS.items()}
"""Class -> the name of the photograph its object is cut from."""

BACKGROUNDS = ("brick", "grass", "gravel", "camera", "hubble_deep_field", "immunohistochemistry",
               "retina", "clock", "cell", "text")
"""The photos that clutter comes from: none of them shows an object class."""

SOURCE_SIZE = 160
SCALE_RANGE = (0.30, 0.45)
CLUTTER_RANGE = (1, 3)
TEST_SEED = 1234
TEST_SIZE = 500
_SPLITS = {"train": 0, "test": 1}
_TEMPLATE = 128


@dataclass(frozen=True)
class Scene:
    """One scene: ``image`` (H, W, 3) float32 in [0, 1], ``label``, ``box`` (top, left, bottom, right;
    bottom/right exclusive, pixels), ``mask`` (H, W) bool, ``scale`` (box side / image side)."""

    image: np.ndarray
    label: int
    box: tuple[int, int, int, int]
    mask: np.ndarray
    scale: float

    @property
    def name(self) -> str:
        return CLASSES[self.label]


@functools.cache
def _template(cls: str):
    from PIL import Image

    pil = Image.fromarray((object_photo(cls) * 255).round().astype(np.uint8))
    return pil.resize((_TEMPLATE, _TEMPLATE), Image.Resampling.BILINEAR, reducing_gap=None)


@functools.cache
def _background(name: str) -> np.ndarray:
    return load_photo(name, size=SOURCE_SIZE)


@functools.lru_cache(maxsize=64)
def _disc(side: int) -> np.ndarray:
    """Soft paste weight of a disc inscribed in a ``side x side`` square (1 inside, 0 outside, ~1 px ramp)."""
    c = (side - 1) / 2.0
    yy, xx = np.mgrid[0:side, 0:side]
    d = np.sqrt((yy - c) ** 2 + (xx - c) ** 2)
    return np.clip(side / 2.0 - d, 0.0, 1.0).astype(np.float32)


def _window(rng: np.random.Generator, split: str, side: int) -> np.ndarray:
    """A ``side x side`` window of a random background photo, from the split's half."""
    src = _background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))])
    half = SOURCE_SIZE // 2
    c0 = 0 if split == "train" else half
    top = rng.integers(0, SOURCE_SIZE - side + 1)
    left = c0 + rng.integers(0, half - side + 1)
    win = src[top : top + side, left : left + side]
    if rng.random() < 0.5:
        win = win[:, ::-1]
    if rng.random() < 0.5:
        win = win[::-1]
    return win


def _object(rng: np.random.Generator, cls: str, side: int) -> np.ndarray:
    from PIL import Image

    frac = rng.uniform(0.85, 1.0)
    w = _TEMPLATE * frac
    x0, y0 = rng.uniform(0, _TEMPLATE - w, size=2)
    patch = _template(cls).resize((side, side), Image.Resampling.BILINEAR, box=(x0, y0, x0 + w, y0 + w))
    obj = np.asarray(patch, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        obj = obj[:, ::-1]
    contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-0.08, 0.08)
    return np.clip((obj - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)


def make_scene(
    index: int,
    seed: int = 0,
    split: str = "train",
    *,
    label: int | None = None,
    scale: float | None = None,
    center: tuple[float, float] | None = None,
    clutter: tuple[int, int] = CLUTTER_RANGE,
) -> Scene:
    """Scene ``index`` of the stream ``(split, seed)``; deterministic.

    Args:
        index, seed: which scene; the same ``(split, seed, index)`` gives the same scene.
        split: ``"train"`` or ``"test"`` (disjoint background regions, see the module docstring).
        label: force the class (default: uniform over :data:`CLASSES`).
        scale: force the object's box side as a fraction of the image side (default ``U(0.3, 0.45)``).
        center: force the box centre ``(row, col)`` as fractions of the image side (clipped so the
            box fits; default uniform over the positions where it fits).
        clutter: inclusive range of the number of distractor patches.
    """
    if split not in _SPLITS:
        raise ValueError(f"make_scene: split must be 'train' or 'test', got {split!r}")
    rng = np.random.default_rng([_SPLITS[split], seed, index])
    lab = int(rng.integers(len(CLASSES))) if label is None else int(label)
    if not 0 <= lab < len(CLASSES):
        raise ValueError(f"make_scene: label must be in [0, {len(CLASSES)}), got {label}")
    s = rng.uniform(*SCALE_RANGE) if scale is None else float(scale)
    S = IMAGE_SIZE
    side = int(np.clip(round(s * S), 4, S))
    img = _window(rng, split, S).copy()
    # distractors: same size range as objects, anywhere (the object is pasted over them)
    for _ in range(rng.integers(clutter[0], clutter[1] + 1)):
        d_side = int(round(rng.uniform(*SCALE_RANGE) * S))
        row, col = rng.integers(0, S - d_side + 1, size=2)  # the top-left corner
        a = _disc(d_side)[:, :, None]
        below = img[row : row + d_side, col : col + d_side]
        img[row : row + d_side, col : col + d_side] = a * _window(rng, split, d_side) + (1 - a) * below
    if center is None:
        top, left = (int(v) for v in rng.integers(0, S - side + 1, size=2))
    else:
        top = int(np.clip(round(center[0] * S - side / 2), 0, S - side))
        left = int(np.clip(round(center[1] * S - side / 2), 0, S - side))
        rng.integers(0, 2, size=2)  # keep the stream aligned with the default path
    a = _disc(side)[:, :, None]
    obj = _object(rng, CLASSES[lab], side)
    img[top : top + side, left : left + side] = a * obj + (1 - a) * img[top : top + side, left : left + side]
    mask = np.zeros((S, S), dtype=bool)
    mask[top : top + side, left : left + side] = a[:, :, 0] >= 0.5
    return Scene(np.clip(img, 0, 1).astype(np.float32), lab, (top, left, top + side, left + side), mask, side / S)


def object_photo(cls: str, *, crop: bool = True) -> np.ndarray:
    """The photograph the class's object is cut from, ``(H, W, 3)`` float32 in [0, 1], at its
    original resolution: cropped to the class's box (:data:`OBJECTS`), or whole with ``crop=False``
    (the box, ``(top, left, bottom, right)``, is ``OBJECTS[cls][1]``). Credits:
    ``attn_edu.images.credits([OBJECTS[c][0] for c in CLASSES])``."""
    if cls not in OBJECTS:
        raise ValueError(f"object_photo: cls must be one of {list(CLASSES)}, got {cls!r}")
    source, (top, left, bottom, right) = OBJECTS[cls]
    img = load_photo(source, size=None)
    return img[top:bottom, left:right] if crop else img


def class_photos(size: int = 64) -> torch.Tensor:
    """The whole photograph of each class (:data:`PHOTO_OF`), ``(K, 3, size, size)`` float32, in
    the order of :data:`CLASSES`: what a lab model makes of a photo it never saw as a scene."""
    photos = np.stack([load_photo(PHOTO_OF[c], size=size) for c in CLASSES])  # K H W 3
    return torch.from_numpy(photos).permute(0, 3, 1, 2)  # K H W 3 -> K 3 H W


def class_scenes(scale: float | None = None, center: tuple[float, float] | None = None, *, index: int = 0,
                 seed: int = 11) -> list[Scene]:
    """One test scene of each class, in the order of :data:`CLASSES`: scene ``index`` of
    ``("test", seed)`` with its label forced (so the five share their clutter's random draws) and
    the object at ``scale`` and ``center`` (see :func:`make_scene`). The chapters' example rows."""
    return [make_scene(index, seed, "test", label=k, scale=scale, center=center) for k in range(len(CLASSES))]


@dataclass(frozen=True)
class SceneBatch:
    """Many scenes as tensors: ``images`` B 3 H W float32, ``labels`` B, ``boxes`` B 4, ``masks`` B H W bool."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    masks: torch.Tensor
    scales: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def one_per_class(self) -> list[int]:
        """The index of the first scene of each class, in the order of :data:`CLASSES`."""
        missing = [CLASSES[k] for k in range(len(CLASSES)) if not bool((self.labels == k).any())]
        if missing:
            raise ValueError(f"SceneBatch.one_per_class: no scene of class {', '.join(missing)} among {len(self)}")
        return [int(torch.nonzero(self.labels == k)[0, 0]) for k in range(len(CLASSES))]

    def image(self, i: int) -> np.ndarray:
        """Scene ``i`` as the figures take it: ``(H, W, 3)`` float32 RGB in [0, 1] (``3 H W -> H W 3``)."""
        return self.images[i].permute(1, 2, 0).numpy()

    @property
    def box_share(self) -> torch.Tensor:
        """Per scene, the share of the image the object box covers (float64 ``B``): the pointing
        game's chance level, the hit rate of a uniformly random point."""
        b = self.boxes
        return ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).double() / (self.images.shape[-2] * self.images.shape[-1])

    @property
    def mask_share(self) -> torch.Tensor:
        """Per scene, the share of the image the object mask covers (float64 ``B``): the chance
        level of mass on object, the share a uniform map puts there."""
        return self.masks.double().mean(dim=(1, 2))


def make_scenes(n: int, seed: int = 0, split: str = "train", start: int = 0, **kwargs) -> SceneBatch:
    """Scenes ``start .. start+n-1`` of ``(split, seed)`` as a :class:`SceneBatch`.

    kwargs: see :func:`make_scene`.
    """
    return batch([make_scene(start + i, seed, split, **kwargs) for i in range(n)])


def batch(scenes: list[Scene]) -> SceneBatch:
    """Scenes as one :class:`SceneBatch` (used by both of the lab's tasks)."""
    if not scenes:
        raise ValueError("batch: expected at least one scene, got none")
    stacked = np.stack([s.image for s in scenes])  # B H W 3
    images = torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()  # B H W 3 -> B 3 H W
    return SceneBatch(
        images,
        torch.tensor([s.label for s in scenes], dtype=torch.long),
        torch.tensor([s.box for s in scenes], dtype=torch.long),
        torch.from_numpy(np.stack([s.mask for s in scenes])),
        torch.tensor([s.scale for s in scenes], dtype=torch.float32),
    )


@functools.lru_cache(maxsize=2)
def test_scenes(n: int = TEST_SIZE) -> SceneBatch:
    """The fixed test set: the first ``n`` scenes of ``("test", TEST_SEED)``."""
    return make_scenes(n, TEST_SEED, "test")
