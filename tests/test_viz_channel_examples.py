"""attn_edu.viz.plot_channel_examples: the SE and ECA chapters' static figure of a model's channel gates."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from attn_edu.lab import ChannelExamples  # noqa: E402
from attn_edu.viz import plot_channel_examples  # noqa: E402


def _examples(n_scenes: int = 2, n_photos: int = 1, c: int = 8) -> ChannelExamples:
    e = n_scenes + n_photos
    g = torch.Generator().manual_seed(0)
    return ChannelExamples(images=torch.rand(e, 16, 16, 3, generator=g).numpy(),
                           names=[f"example {i}" for i in range(e)], gates=torch.rand(e, c, generator=g),
                           features=torch.rand(e, c, 4, 4, generator=g), logits=torch.zeros(e, 5),
                           marked=torch.tensor([i % c for i in range(e)]), n_scenes=n_scenes)


def test_one_row_per_example_and_the_column_width():
    import matplotlib.pyplot as plt

    ex = _examples()
    fig = plot_channel_examples(ex)
    assert fig.get_size_inches()[0] <= 9
    bars = [ax for ax in fig.axes if ax.patches]
    assert len(bars) == 2  # the two scenes
    np.testing.assert_allclose([p.get_height() for p in bars[1].patches], ex.gates[1].numpy(), rtol=1e-6)
    colours = {tuple(p.get_facecolor()) for p in bars[1].patches}
    assert len(colours) == 2  # the marked channel stands out
    assert bars[0].get_title() == "example 0"
    plt.close(fig)
    fig = plot_channel_examples(ex, which="photos")
    assert [ax.get_title() for ax in fig.axes if ax.patches] == ["example 2"]
    plt.close(fig)
    fig = plot_channel_examples(ex, which=[2, 0])
    assert [ax.get_title() for ax in fig.axes if ax.patches] == ["example 2", "example 0"]
    plt.close(fig)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"examples": "gates"}, TypeError, "expected an attn_edu.lab.ChannelExamples"),
    ({"which": "some"}, ValueError, "which must be 'scenes'"),
    ({"which": [0, 3]}, ValueError, "which must hold indices of the 3 examples"),
    ({"which": []}, ValueError, "no example to draw"),
    ({"row_height": 0}, ValueError, "row_height"),
])
def test_bad_input_names_the_function(kwargs, error, match):
    args = {"examples": _examples(), **kwargs}
    with pytest.raises(error, match=f"plot_channel_examples: {match}"):
        plot_channel_examples(**args)


def test_no_scenes_is_an_error_not_an_empty_figure():
    with pytest.raises(ValueError, match="plot_channel_examples: no example to draw"):
        plot_channel_examples(_examples(n_scenes=0))


def test_the_lab_examples_of_chosen_scenes_draw_one_row_each():
    import matplotlib.pyplot as plt

    from attn_edu import lab

    model, scenes = lab.load("eca"), lab.make_scenes(6, seed=3, split="test")
    ex = lab.channel_examples(model, scenes, [4, 1], photos=False)
    assert ex.n_scenes == 2 and ex.names[0].startswith("test scene 4 ") and tuple(ex.gates.shape) == (2, 64)
    fig = plot_channel_examples(ex)
    assert len([ax for ax in fig.axes if ax.patches]) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="channel_examples: indices must lie in"):
        lab.channel_examples(model, scenes, [6])
