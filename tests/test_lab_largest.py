"""The lab's second task (attn_edu.lab.largest): the class of the largest disc, deterministic per
scene, the label's disc clearly the largest, no disc overlapping another, the distractor classes as
asked, train and test from disjoint streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attn_edu import lab
from attn_edu.lab import largest

N = 120


def test_a_scene_is_the_same_alone_and_in_a_batch():
    batch = lab.make_largest_scenes(6, seed=3, split="test", start=10)
    alone = lab.make_largest_scene(13, seed=3, split="test")
    assert np.array_equal(batch.image(3), alone.image) and int(batch.labels[3]) == alone.label
    assert not np.array_equal(lab.make_largest_scene(13, seed=4, split="test").image, alone.image)
    assert not np.array_equal(lab.make_largest_scene(13, seed=3, split="train").image, alone.image)


@pytest.mark.parametrize("distractors", ["others", "any"])
def test_the_label_is_the_class_of_the_largest_disc_and_no_disc_overlaps_another(distractors):
    own_class_seen = 0
    for i in range(N):
        scene = lab.make_largest_scene(i, seed=0, split="train", distractors=distractors)
        discs = lab.largest_discs(i, seed=0, split="train", distractors=distractors)
        big, rest = discs[0], discs[1:]
        assert big.label == scene.label
        assert big.side >= largest.MIN_RATIO * max(d.side for d in rest)
        assert scene.box == (big.top, big.left, big.top + big.side, big.left + big.side)
        assert 0.6 * big.side**2 < scene.mask.sum() < 0.8 * big.side**2  # the disc: about pi/4 of its square
        objects = [d for d in rest if d.label is not None]
        textures = [d for d in rest if d.label is None]
        assert largest.DISTRACTORS[0] <= len(objects) <= largest.DISTRACTORS[1]
        assert largest.TEXTURES[0] <= len(textures) <= largest.TEXTURES[1]
        lo, hi = (round(f * lab.scenes.IMAGE_SIZE) for f in largest.SCALE_RANGE)
        assert all(lo <= d.side <= hi for d in discs)
        for j, a in enumerate(discs):
            assert 0 <= a.top <= 64 - a.side and 0 <= a.left <= 64 - a.side
            for b in discs[j + 1:]:
                dy, dx = (a.top + a.side / 2) - (b.top + b.side / 2), (a.left + a.side / 2) - (b.left + b.side / 2)
                assert dy * dy + dx * dx >= ((a.side + b.side) / 2) ** 2 - 1e-9
        own_class_seen += any(d.label == scene.label for d in objects)
    if distractors == "others":
        assert own_class_seen == 0
    else:  # with replacement from all five: about 1 - (4/5)^3.5 of the scenes
        assert 0.4 * N < own_class_seen < 0.75 * N


def test_the_test_set_is_fixed_and_balanced():
    test = lab.largest_test_scenes(400)
    assert torch.equal(test.images, lab.make_largest_scenes(400, largest.TEST_SEED, "test").images)
    counts = torch.bincount(test.labels, minlength=len(lab.CLASSES))
    assert int(counts.min()) > 50, counts


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match="make_largest_scene: split must be 'train' or 'test'"):
        lab.make_largest_scene(0, split="val")
    with pytest.raises(ValueError, match="distractors must be one of"):
        lab.make_largest_scene(0, distractors="same")
    with pytest.raises(ValueError, match=r"label must be in \[0, 5\)"):
        lab.make_largest_scene(0, label=5)
    with pytest.raises(ValueError, match="batch: expected at least one scene"):
        lab.make_largest_scenes(0)
