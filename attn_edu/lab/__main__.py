"""``python -m attn_edu.lab``: train and evaluate the real-image lab.

    python -m attn_edu.lab train --mechanism cbam [--seed 0] [--epochs 8] [--no-save]
    python -m attn_edu.lab train --all          (the ten, the backbone alone and the variants)
    python -m attn_edu.lab evaluate [--json] [--mechanism NAME] [--record]

The second task (attn_edu.lab.largest), its models at the seeds 0, 1, 2:

    python -m attn_edu.lab train --task largest --all --jobs 2   (the ten, the controls, the claims' variants)
    python -m attn_edu.lab train --task largest --mechanism se --seed 1 [--no-save]
    python -m attn_edu.lab evaluate --task largest [--record]
    python -m attn_edu.lab steps --jobs 2 [--no-save]   (accuracy against length; weights/largest/steps.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..registry import MECHANISMS
from .model import MODELS, NAMES
from .runs import fit, fit_accuracy, pool


def _by_cost(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names``, the most FLOPs first: with several jobs the longest trainings start first."""
    from .claims import cost

    return sorted(names, key=lambda n: -cost(n).flops)


def _save(result: dict, task: str) -> None:
    from .model import LabNet
    from .store import save, save_untrained

    name, largest = result["name"], task == "largest"
    model = LabNet(name)
    model.load_state_dict(result["state"])
    path = save(name, model.eval(), result["record"], task=task, seed=result["seed"] if largest else None)
    print(f"saved {path}", file=sys.stderr)
    if name in MECHANISMS and not largest:  # variants rebuild their baseline from the seed (hash-checked)
        print(f"saved {save_untrained(name)}", file=sys.stderr)


def _steps(args: argparse.Namespace) -> None:
    """Accuracy against training length (and the shortcut question), seed 0: STEPS_MODELS at each of
    STEPS_EPOCHS, and two models trained with the label's class kept out of the distractors, tested
    on both test sets."""
    from .store import LARGEST_DIR
    from .train import LARGEST_EPOCHS, STEPS_EPOCHS, STEPS_MODELS

    tasks: list[tuple[str, int, str | None, tuple[str, ...]]] = [
        (name, epochs, None, ("any",)) for epochs in sorted(STEPS_EPOCHS, reverse=True) for name in STEPS_MODELS]
    tasks += [(name, LARGEST_EPOCHS, "others", ("others", "any")) for name in ("none", "self_attention")]
    out: dict = {"models": list(STEPS_MODELS), "epochs": list(STEPS_EPOCHS),
                 "accuracy": {n: {} for n in STEPS_MODELS}, "shortcut": {}}
    for r in pool(fit_accuracy, tasks, args.jobs):
        if r["trained_on"] is None:
            out["accuracy"][r["name"]][str(r["steps"])] = r["any"]
            print(json.dumps({"mechanism": r["name"], "steps": r["steps"], "accuracy": r["any"]}), flush=True)
        else:
            out["shortcut"][r["name"]] = {"test_others": r["others"], "test_any": r["any"]}
            print(json.dumps({"mechanism": r["name"], "trained_on": "others", **out["shortcut"][r["name"]]}),
                  flush=True)
    for name in STEPS_MODELS:  # in order of length
        out["accuracy"][name] = dict(sorted(out["accuracy"][name].items(), key=lambda kv: int(kv[0])))
    if not args.no_save:
        LARGEST_DIR.mkdir(exist_ok=True)
        (LARGEST_DIR / "steps.json").write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m attn_edu.lab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one model (or all) and ship its weights")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--mechanism", choices=MODELS)
    g.add_argument("--all", action="store_true", help="every model of the task, one after the other")
    t.add_argument("--task", choices=("objects", "largest"), default="objects")
    t.add_argument("--seed", type=int, default=None, help="default: 0 (with --task largest --all: 0, 1, 2)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--no-save", action="store_true", help="do not write weights/manifest")
    t.add_argument("--jobs", type=int, default=1, help="models trained at once, each in its own process")
    e = sub.add_parser("evaluate", help="metrics of the shipped weights on the test scenes")
    e.add_argument("--task", choices=("objects", "largest"), default="objects")
    e.add_argument("--mechanism", choices=MODELS, action="append", help="repeatable; default: all shipped")
    e.add_argument("--json", action="store_true", help='print {"mechanisms": {NAME: {...}}}')
    e.add_argument("--record", action="store_true", help="write the measured metrics into the manifest")
    s = sub.add_parser("steps", help="the second task's accuracy against training length, and its shortcut")
    s.add_argument("--no-save", action="store_true", help="do not write weights/largest/steps.json")
    s.add_argument("--jobs", type=int, default=1, help="models trained at once, each in its own process")
    args = p.parse_args(argv)
    if args.cmd == "steps":
        _steps(args)
        return 0
    if args.cmd == "train":
        from .train import LARGEST_MODELS, LARGEST_SEEDS

        t0 = time.perf_counter()
        if args.task == "largest":
            seeds = LARGEST_SEEDS if args.all and args.seed is None else [args.seed or 0]
            names = _by_cost(LARGEST_MODELS) if args.all else [args.mechanism]
            tasks = [(n, "largest", s, args.epochs, args.jobs == 1) for s in seeds for n in names]
        else:
            names = list(NAMES) if args.all else [args.mechanism]
            tasks = [(n, "objects", args.seed, args.epochs, args.jobs == 1) for n in names]
        for result in pool(fit, tasks, args.jobs):
            print(json.dumps({"mechanism": result["name"], "seed": result["seed"],
                              "train_seconds": result["record"]["train_seconds"],
                              "final_loss": result["record"]["final_loss"], **result["record"]["metrics"]}), flush=True)
            if not args.no_save:
                _save(result, args.task)
        print(f"trained in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return 0
    if args.task == "largest":
        return _evaluate_largest(args)
    from .evaluate import evaluate
    from .store import manifest

    names = args.mechanism or [n for n in NAMES if n in manifest()]
    result = evaluate(names)
    if args.record:
        from .store import record_metrics

        for name, metrics in result["mechanisms"].items():
            record_metrics(name, metrics)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, m in result["mechanisms"].items():
            print(f"{name:20s} " + "  ".join(f"{k}={v:.3f}" for k, v in m.items()))
    return 0


def _evaluate_largest(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_largest
    from .largest import largest_test_scenes
    from .store import load, manifest, record_metrics
    from .train import LARGEST_DISTRACTORS

    scenes = largest_test_scenes(distractors=LARGEST_DISTRACTORS)
    result = {}
    for k, entry in manifest("largest").items():
        name, seed = entry["config"]["mechanism"], entry["config"]["seed"]
        if args.mechanism and name not in args.mechanism:
            continue
        result[k] = metrics = evaluate_largest(load(name, task="largest", seed=seed), scenes)
        if args.record:
            record_metrics(name, metrics, task="largest", seed=seed)
        if not args.json:
            print(f"{k:32s} {json.dumps(metrics)}", flush=True)
    if args.json:
        print(json.dumps({"models": result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
