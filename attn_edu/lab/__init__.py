"""The real-image lab: attention mechanisms trained on real photographs, and evidence about their maps.

* :mod:`~attn_edu.lab.scenes`: cluttered 64 x 64 scenes made of scikit-image's photographs, with
  label, box and mask; seeded; disjoint train/test backgrounds.
* :mod:`~attn_edu.lab.largest`: the second task, the class of the largest of several object
  discs, where pooling the whole image is not enough (for the accuracy claims).
* :mod:`~attn_edu.lab.model`: :class:`LabNet`, a small CNN with one attention slot hosting any of
  the ten mechanisms (or ``"none"``).
* :mod:`~attn_edu.lab.train`: the seeded training recipe (``python -m attn_edu.lab train``).
* :mod:`~attn_edu.lab.store`: shipped weights with SHA-256 checks; the untrained baselines.
* :mod:`~attn_edu.lab.evaluate`: accuracy, pointing game, mass on object, class selectivity and
  the randomization sanity check (``python -m attn_edu.lab evaluate --json``).
* :mod:`~attn_edu.lab.claims`: the second task's accuracy over seeds, its controls and ablations,
  and the answers to the papers' accuracy claims the chapters print.

Example::

    import torch
    from attn_edu import lab
    scenes = lab.test_scenes(8)
    model = lab.load("cbam")
    logits, maps = lab.attention_map(model, scenes.images)   # maps: 8 x 16 x 16
    with torch.no_grad():
        out = model.run(scenes.images)                        # logits, features, every emitted map
    out.slot("spatial").tensor                                # CBAM's spatial gate, B H W

Figures: :func:`attn_edu.viz.overlay` and :func:`attn_edu.viz.photo` take ``scenes.image(i)``
(``H W 3`` RGB in [0, 1]) and ``maps[i]``. Uncertainty: :mod:`attn_edu.stats`.
"""

from .evaluate import (
    ChannelExamples,
    ablation_accuracy,
    attention_map,
    channel_examples,
    evaluate,
    evaluate_largest,
    evaluate_model,
    map_kind,
    read_map,
    sites,
    top_channel,
)
from .largest import largest_discs, largest_test_scenes, make_largest_scene, make_largest_scenes
from .model import (
    CONTROLS,
    LARGEST_VARIANTS,
    MODELS,
    NAMES,
    VARIANTS,
    LabNet,
    LabOutput,
    Variant,
    build,
    mechanism_of,
    receptive_field,
)
from .scenes import (
    CLASSES,
    Scene,
    SceneBatch,
    class_photos,
    class_scenes,
    make_scene,
    make_scenes,
    object_photo,
    test_scenes,
)
from .store import load, manifest, untrained
from .train import TrainConfig, largest_config, train

__all__ = [
    "CLASSES", "CONTROLS", "LARGEST_VARIANTS", "MODELS", "NAMES", "VARIANTS", "ChannelExamples", "LabNet",
    "LabOutput", "Scene", "SceneBatch", "TrainConfig", "Variant", "ablation_accuracy", "attention_map", "build",
    "channel_examples", "class_photos", "class_scenes", "evaluate", "evaluate_largest", "evaluate_model",
    "largest_config", "largest_discs", "largest_test_scenes", "load", "make_largest_scene", "make_largest_scenes",
    "make_scene", "make_scenes", "manifest", "map_kind", "mechanism_of", "object_photo", "read_map",
    "receptive_field", "sites", "test_scenes", "top_channel", "train", "untrained",
]
