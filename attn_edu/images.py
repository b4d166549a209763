"""Real photographs that installed packages ship: nothing is downloaded.

Every photo comes from scikit-image's ``skimage.data`` (files inside the installed wheel) with its
credit and licence. Preprocessing is deterministic: a centred square crop, then an anti-aliased
resize, giving float32 RGB in [0, 1] -- the contract every figure in :mod:`attn_edu.viz` expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Photo:
    """A photograph shipped by an installed package."""

    name: str
    loader: str  # function name in skimage.data
    description: str
    credit: str
    licence: str


PHOTOS: dict[str, Photo] = {
    p.name: p
    for p in [
        Photo("astronaut", "astronaut", "Eileen Collins, NASA astronaut, in front of a flag",
              "NASA (via scikit-image)", "public domain"),
        Photo("chelsea", "chelsea", "Chelsea the cat", "Stefan van der Walt (via scikit-image)", "CC0"),
        Photo("coffee", "coffee", "a cup of coffee on a saucer",
              "Rachel Michetti, Pikolo Espresso Bar (via scikit-image)", "CC0"),
        Photo("rocket", "rocket", "DSCOVR launch on a Falcon 9", "SpaceX (via scikit-image)", "public domain"),
        Photo("coins", "coins", "Greek coins (greyscale)",
              "Brooklyn Museum collection (via scikit-image)", "no known copyright restrictions"),
        Photo("brick", "brick", "brick wall texture (greyscale)", "CC0Textures (via scikit-image)", "CC0"),
        Photo("grass", "grass", "grass texture (greyscale)", "CC0Textures (via scikit-image)", "CC0"),
        Photo("gravel", "gravel", "gravel texture (greyscale)", "CC0Textures (via scikit-image)", "CC0"),
        # clutter for the real-image lab (attn_edu.lab.scenes): photos showing none of its object classes
        Photo("camera", "camera", "a photographer with a camera on a tripod (greyscale)",
              "Lav Varshney (via scikit-image)", "CC0"),
        Photo("hubble_deep_field", "hubble_deep_field", "the Hubble eXtreme Deep Field",
              "NASA (via scikit-image)", "public domain"),
        Photo("immunohistochemistry", "immunohistochemistry", "immunohistochemical staining of colonic tissue",
              "Center for Microscopy And Molecular Imaging, CMMI (via scikit-image)",
              "no known copyright restrictions"),
        Photo("retina", "retina", "a human retina (fundus photograph)",
              "Häggström, Mikael (2014), WikiJournal of Medicine (via scikit-image)", "CC0"),
        Photo("clock", "clock", "a wall clock, motion-blurred (greyscale)",
              "Stefan van der Walt (via scikit-image)", "public domain"),
        Photo("cell", "cell", "a cell floating in saline, quantitative phase image (greyscale)",
              "Paul Müller, qpformat (via scikit-image)", "CC0"),
        Photo("text", "text", "printed text and corners, Wikipedia File:Corner.png (greyscale)",
              "Wikipedia (via scikit-image)", "public domain"),
    ]
}
"""The photographs, by name."""


def load_photo(name: str, size: int | None = 224) -> np.ndarray:
    """Load a shipped photograph as float32 RGB in [0, 1], shape ``(size, size, 3)``.

    Args:
        name: a key of :data:`PHOTOS`.
        size: side of the square output; ``None`` keeps the original resolution and aspect.
    """
    if name not in PHOTOS:
        raise ValueError(f"load_photo: unknown photo {name!r}; available: {', '.join(PHOTOS)}")
    import skimage.data
    from skimage.transform import resize

    img = getattr(skimage.data, PHOTOS[name].loader)()
    img = np.asarray(img, dtype=np.float32) / 255.0
    if img.ndim == 2:  # greyscale -> RGB
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    if size is None:
        return img
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top : top + side, left : left + side]
    img = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` array in [0, 1] -> ``(1, 3, H, W)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()  # H W 3 -> 1 3 H W


def zoom(img: np.ndarray, factor: float, size: int = 64) -> np.ndarray:
    """The centred square crop of side ``1 / factor`` of a square ``(H, W, 3)`` image, resized
    (bilinear) to ``size x size``: the enlargement the SK paper uses to test the selection of
    receptive fields (book: the SK and PSA chapters). ``factor=1`` only resizes."""
    from PIL import Image

    if not (isinstance(factor, (int, float)) and factor >= 1):
        raise ValueError(f"zoom: factor must be a number >= 1, got {factor!r}")
    if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.shape[0] == img.shape[1]):
        got = img.shape if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"zoom: expected a square (H, W, 3) RGB image in [0, 1], got {got}")
    side = int(round(img.shape[0] / factor))
    o = (img.shape[0] - side) // 2
    pil = Image.fromarray((img[o : o + side, o : o + side] * 255).round().astype(np.uint8))
    return np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None), dtype=np.float32) / 255.0


def strip(images: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """``(H, W, 3)`` images of one height side by side, separated by white columns ``gap`` wide."""
    if not images or any(im.ndim != 3 or im.shape[0] != images[0].shape[0] for im in images):
        shapes = [getattr(im, "shape", im) for im in images]
        raise ValueError(f"strip: expected (H, W, 3) images of one height, got {shapes}")
    white = np.ones((images[0].shape[0], gap, 3), dtype=np.float32)
    return np.concatenate([part for im in images for part in (im, white)][:-1], axis=1)


def credits(names: list[str] | None = None) -> str:
    """One line per photo: name, description, credit, licence (for figure captions and the book)."""
    names = list(PHOTOS) if names is None else names
    return "\n".join(f"{n}: {PHOTOS[n].description}. {PHOTOS[n].credit}, {PHOTOS[n].licence}." for n in names)
