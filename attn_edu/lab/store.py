"""Shipped weights: ``attn_edu/lab/weights/NAME.pt`` plus ``manifest.json``.

Each ``NAME.pt`` is a plain ``state_dict`` saved with ``torch.save`` and loaded with
``torch.load(weights_only=True)`` after its SHA-256 has been checked against the manifest
(ValueError naming the file on a mismatch). The manifest records, per name: ``file``, ``sha256``,
``bytes``, ``config`` (the :class:`attn_edu.lab.train.TrainConfig` that produced the file),
``metrics`` (what :func:`attn_edu.lab.evaluate.evaluate_model` measured right after training),
``train_seconds``, ``final_loss``, ``torch`` (version) and ``untrained_sha256``.

The *untrained baseline* of a mechanism is the same network at the seeded initialisation its
training started from (``build(name, config.seed)``), shipped as ``NAME.untrained.pt``
(``untrained_file``, ``untrained_file_sha256`` in the manifest) and loaded like the trained file.
``untrained_sha256`` (a hash of the state_dict's tensors) also lets :func:`untrained` check that
the file is exactly that initialisation, and that a rebuild from the seed still gives it (a torch
upgrade that changes initialisers is noticed).

**The second task** (``task="largest"``) keeps its models apart, in ``weights/largest/`` with a
manifest of its own, one model per name *and seed* (key ``NAME.sSEED``, file ``NAME.sSEED.pt``),
in the same format; no untrained files (its metrics need no baseline; ``untrained_sha256`` is
recorded all the same).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from .model import LabNet, build

WEIGHTS_DIR = Path(__file__).with_name("weights")
LARGEST_DIR = WEIGHTS_DIR / "largest"


def _dir(task: str) -> Path:
    """The folder of ``task``'s weights and manifest (read at call time: tests move them)."""
    if task == "objects":
        return WEIGHTS_DIR
    if task == "largest":
        return LARGEST_DIR
    raise ValueError(f"lab.store: task must be 'objects' or 'largest', got {task!r}")


def _manifest_path(task: str) -> Path:
    return _dir(task) / "manifest.json"


def key(name: str, task: str = "objects", seed: int | None = None) -> str:
    """The manifest key of a model: ``name`` for the first task, ``NAME.sSEED`` for the second."""
    _dir(task)  # refuses an unknown task
    if task == "objects":
        if seed not in (None, 0):
            raise ValueError(f"lab.store: the first task ships seed 0 only, got seed={seed!r}")
        return name
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"lab.store: the second task needs an int seed, got {seed!r}")
    return f"{name}.s{seed}"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def state_sha256(state: dict) -> str:
    """A hash of a state_dict's names, shapes and float64-rounded values (independent of pickling)."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def manifest(task: str = "objects") -> dict:
    """The manifest of ``task``'s models (``{}`` if nothing has been shipped yet)."""
    path = _manifest_path(task)
    return json.loads(path.read_text()) if path.exists() else {}


def _write_manifest(m: dict, task: str = "objects") -> None:
    """Write the manifest: one place, one format (sorted keys, 2-space indent, final newline)."""
    _manifest_path(task).write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")


def _write_state(path: Path, model: LabNet) -> None:
    """Save ``model``'s state dict to ``path`` (detached copies: no graph, no shared storage)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, buf)
    path.write_bytes(buf.getvalue())


def _check_initialisation(name: str, model: LabNet, entry: dict) -> str:
    """The hash of ``model``'s state, checked against the manifest's ``untrained_sha256`` when it has one."""
    digest = state_sha256(model.state_dict())
    if entry.get("untrained_sha256") and digest != entry["untrained_sha256"]:
        raise ValueError(f"untrained {name!r}: initialisation hash {digest} differs from the manifest's "
                         f"{entry['untrained_sha256']} (did torch change its initialisers?)")
    return digest


def _entry(name: str, task: str = "objects", seed: int | None = None) -> dict:
    m, k = manifest(task), key(name, task, seed)
    if k not in m:
        shipped = ", ".join(m) if len(m) < 40 else f"{len(m)} models"
        raise ValueError(f"no shipped weights for {k!r} in {_manifest_path(task)}; "
                         f"shipped: {shipped or 'none'}")
    return m[k]


def load(name: str, *, task: str = "objects", seed: int | None = None) -> LabNet:
    """The trained model ``name`` from the shipped weights, checksum verified, in eval mode
    (``task="largest"``: the second task's model of ``seed``)."""
    entry = _entry(name, task, seed)
    return _load_checked(_dir(task) / entry["file"], entry["sha256"], name)


def _load_checked(path: Path, sha256: str, name: str) -> LabNet:
    digest = sha256_file(path)
    if digest != sha256:
        raise ValueError(f"{path}: SHA-256 {digest} does not match the manifest's {sha256}")
    state = torch.load(io.BytesIO(path.read_bytes()), weights_only=True, map_location="cpu")
    model = LabNet(name)
    model.load_state_dict(state)
    return model.eval()


def untrained(name: str) -> LabNet:
    """The untrained baseline of ``name`` (its seeded initialisation), checksum verified, in eval mode."""
    entry = _entry(name)
    if "untrained_file" in entry:
        model = _load_checked(WEIGHTS_DIR / entry["untrained_file"], entry["untrained_file_sha256"], name)
    else:
        model = build(name, entry["config"]["seed"]).eval()
    _check_initialisation(name, model, entry)
    return model


def save_untrained(name: str) -> Path:
    """Write ``NAME.untrained.pt``, the seeded initialisation of ``name``, and record it in the manifest."""
    m = manifest()
    entry = m[name]
    model = build(name, entry["config"]["seed"])
    digest = _check_initialisation(name, model, entry)
    path = WEIGHTS_DIR / f"{name}.untrained.pt"
    _write_state(path, model)
    entry.update(untrained_file=path.name, untrained_file_sha256=sha256_file(path), untrained_sha256=digest)
    _write_manifest(m)
    return path


def save(name: str, model: LabNet, record: dict, *, task: str = "objects",
         seed: int | None = None) -> Path:
    """Write ``NAME.pt`` (``NAME.sSEED.pt``) and update its manifest entry with ``record`` plus file,
    sha256, bytes."""
    k = key(name, task, seed)
    _dir(task).mkdir(exist_ok=True)
    path = _dir(task) / f"{k}.pt"
    _write_state(path, model)
    m = manifest(task)
    m[k] = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "torch": torch.__version__, **record}
    _write_manifest(m, task)
    return path


def record_metrics(name: str, metrics: dict, *, task: str = "objects", seed: int | None = None) -> None:
    """Replace the recorded metrics of ``name`` (after a change of the evaluation, not of the weights)."""
    m = manifest(task)
    m[key(name, task, seed)]["metrics"] = metrics
    _write_manifest(m, task)
