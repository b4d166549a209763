"""``python -m attn_edu.lab``: train and evaluate the real-image lab.

    python -m attn_edu.lab train --mechanism cbam [--seed 0] [--epochs 8] [--no-save]
    python -m attn_edu.lab train --all          (the ten, the backbone alone and the variants)
    python -m attn_edu.lab evaluate [--json] [--mechanism NAME] [--record]
"""

from __future__ import annotations

import argparse
import json
import sys

from ..registry import MECHANISMS
from .model import NAMES


def _train(name: str, args: argparse.Namespace) -> None:
    import dataclasses

    import torch

    from .evaluate import evaluate_model
    from .model import build
    from .store import save, save_untrained, state_sha256
    from .train import TrainConfig, train

    cfg = TrainConfig(name)
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, seed=args.seed)
    if args.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    model, log = train(cfg)
    init = build(name, cfg.seed).eval()
    metrics = evaluate_model(model, None if name == "none" else init)
    final = sum(log["losses"][-50:]) / len(log["losses"][-50:])
    print(json.dumps({"mechanism": name, "train_seconds": round(log["train_seconds"], 1),
                      "final_loss": final, **metrics}), flush=True)
    if not args.no_save:
        path = save(name, model, {"config": cfg.asdict(), "metrics": metrics,
                                  "train_seconds": round(log["train_seconds"], 1), "final_loss": final,
                                  "untrained_sha256": state_sha256(init.state_dict()),
                                  "threads": torch.get_num_threads()})
        print(f"saved {path}", file=sys.stderr)
        if name in MECHANISMS:  # variants rebuild their baseline from the seed (hash-checked)
            print(f"saved {save_untrained(name)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m attn_edu.lab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one model (or all) and ship its weights")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--mechanism", choices=NAMES)
    g.add_argument("--all", action="store_true", help="every model, one after the other")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--no-save", action="store_true", help="do not write weights/manifest")
    e = sub.add_parser("evaluate", help="metrics of the shipped weights on the test scenes")
    e.add_argument("--mechanism", choices=NAMES, action="append", help="repeatable; default: all shipped")
    e.add_argument("--json", action="store_true", help='print {"mechanisms": {NAME: {...}}}')
    e.add_argument("--record", action="store_true", help="write the measured metrics into the manifest")
    args = p.parse_args(argv)
    if args.cmd == "train":
        for name in (NAMES if args.all else [args.mechanism]):
            _train(name, args)
        return 0
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


if __name__ == "__main__":
    raise SystemExit(main())
