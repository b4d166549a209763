"""GPU readiness: the ten mechanisms and one lab training step on CUDA, in float32 and under autocast.

    python scripts/gpu_check.py                 # or: make gpu-check
    python scripts/gpu_check.py --device cpu    # the same checks on the CPU (to try the script out)

Without a CUDA device it prints ``skipped: no CUDA device`` and exits 0.

1. Mechanisms. Each of the ten at its compatibility call (``registry.MECHANISMS[name].example()``:
   the constructor call users of External-Attention-pytorch write, at its documented input
   shape), in eval mode, on each of its paths (``impl``); its output on the device in float32, and
   under ``torch.autocast`` with bfloat16 and with float16, is compared with its float32 output on
   the CPU: relative error ``||y - y_cpu|| / ||y_cpu||``.
2. Lab. One training step of each mechanism's :class:`attn_edu.lab.LabNet` (``lab.build(name)``,
   8 training scenes, AdamW with the lr and weight decay of :class:`attn_edu.lab.TrainConfig`,
   a ``GradScaler`` for float16) in float32 and under both autocasts, against the same step in
   float32 on the CPU: relative error of the loss and of all the gradients together, and whether
   every parameter is finite after the step.

Limits: ``LIMIT_UNITS = 10`` unit roundoffs of the dtype the arithmetic runs in (the bound of
``tests/test_precision.py``): bfloat16 3.9e-2, float16 4.9e-3; for float32 on CUDA the unit of
TF32 (2^-11: cuDNN convolutions use TF32 by default), 4.9e-3. Gradients get
``GRAD_LIMIT_FACTOR`` times that: a training step's backward runs through BatchNorm's batch
statistics and repeats the rounding of the forward. Exit status 1 if any value is over its limit,
not finite, or a call raised.

Measured with ``--device cpu`` (CPU autocast, torch 2.13): outputs at most 1.9e-2 (EMSA, bf16)
and 2.4e-3 (EMSA, fp16), the nine others at most 4.7e-3 and 5.8e-4; lab losses at most 5.7e-4;
lab gradients at most 4.1e-2 (bf16) and 1.7e-2 (fp16).
"""

from __future__ import annotations

import argparse
import copy
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from attn_edu import lab, registry  # noqa: E402

LIMIT_UNITS = 10
GRAD_LIMIT_FACTOR = 8
LAB_BATCH = 8
MODES = ("float32", "autocast bfloat16", "autocast float16")
DTYPES = {"float32": None, "autocast bfloat16": torch.bfloat16, "autocast float16": torch.float16}


def limit(mode: str, device: torch.device) -> float:
    dtype = DTYPES[mode]
    if dtype is not None:
        return LIMIT_UNITS * torch.finfo(dtype).eps / 2
    tf32 = device.type == "cuda" and (torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)
    return LIMIT_UNITS * (2.0**-11 if tf32 else torch.finfo(torch.float32).eps / 2)


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    y, ref = y.detach().double().cpu(), ref.detach().double().cpu()
    return ((y - ref).norm() / ref.norm()).item()


def run_mode(mode: str, device: torch.device, fn):
    dtype = DTYPES[mode]
    if dtype is None:
        return fn()
    with torch.autocast(device.type, dtype=dtype):
        return fn()


def impls(module: torch.nn.Module) -> list[str]:
    found = {m.impl for m in module.modules() if hasattr(m, "impl")}
    return ["fast", "reference"] if found else ["-"]


def with_impl(module: torch.nn.Module, impl: str) -> torch.nn.Module:
    for m in module.modules():
        if hasattr(m, "impl"):
            m.impl = impl
    return module


class Table:
    def __init__(self, title: str, header: list[str]) -> None:
        self.title, self.header, self.rows, self.failures = title, header, [], []

    def add(self, row: list[str]) -> None:
        self.rows.append(row)

    def cell(self, value: float, bound: float, what: str) -> str:
        ok = value == value and value <= bound  # NaN fails
        if not ok:
            self.failures.append(f"{what}: {value:.2e} > {bound:.2e}")
        return f"{value:.2e}" + ("" if ok else " !")

    def error(self, what: str, exc: BaseException) -> str:
        self.failures.append(f"{what}: {type(exc).__name__}: {exc}".splitlines()[0])
        traceback.print_exception(exc, file=sys.stderr)
        return "ERROR"

    def print(self) -> None:
        widths = [max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))]
        print(f"\n{self.title}")
        for r in [self.header, ["-" * w for w in widths], *self.rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def check_mechanisms(device: torch.device) -> Table:
    bounds = ", ".join(f"{m} <= {limit(m, device):.1e}" for m in MODES)
    table = Table(f"Mechanisms at their compatibility call: relative error of the output vs float32 on the CPU "
                  f"({bounds}; '!' = over)", ["mechanism", "impl", *MODES])
    for name, mech in registry.MECHANISMS.items():
        module, x = mech.example()
        module.eval()
        for impl in impls(module):
            m_cpu = with_impl(module, impl) if impl != "-" else module
            with torch.no_grad():
                ref = mech.call_example(m_cpu, x)
            m_dev, x_dev = copy.deepcopy(m_cpu).to(device), x.to(device)
            row = [name, impl]
            for mode in MODES:
                what = f"{name} ({impl}) {mode}"
                try:
                    with torch.no_grad():
                        out = run_mode(mode, device, lambda: mech.call_example(m_dev, x_dev))
                    if out.device.type != device.type:
                        raise RuntimeError(f"output on {out.device}, expected {device}")
                    row.append(table.cell(rel_err(out, ref), limit(mode, device), what))
                except Exception as exc:  # noqa: BLE001 -- reported in the table and the exit status
                    row.append(table.error(what, exc))
            table.add(row)
    return table


def lab_step(name: str, device: torch.device, mode: str, scenes) -> tuple[float, torch.Tensor, bool]:
    """One AdamW step of the lab's recipe: (loss, all gradients flattened, parameters finite after it)."""
    config = lab.TrainConfig(mechanism=name)
    model = lab.build(name, seed=config.seed).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=DTYPES[mode] == torch.float16)
    images, labels = scenes.images.to(device), scenes.labels.to(device)
    loss = run_mode(mode, device, lambda: F.cross_entropy(model(images), labels))
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)  # the true gradients, to compare
    grads = torch.cat([p.grad.detach().flatten().double().cpu() for p in model.parameters() if p.grad is not None])
    scaler.step(opt)
    scaler.update()
    finite = all(torch.isfinite(p).all().item() for p in model.parameters())
    return loss.item(), grads, finite


def check_lab(device: torch.device) -> Table:
    table = Table(f"Lab: one training step (batch {LAB_BATCH}) vs the same step in float32 on the CPU "
                  f"(gradients: {GRAD_LIMIT_FACTOR} x the limits above)",
                  ["mechanism", "mode", "loss", "loss rel err", "grad rel err", "params finite"])
    scenes = lab.make_scenes(LAB_BATCH, 0, "train")
    for name in registry.MECHANISMS:
        ref_loss, ref_grads, _ = lab_step(name, torch.device("cpu"), "float32", scenes)
        for mode in MODES:
            what = f"lab {name} {mode}"
            try:
                loss, grads, finite = lab_step(name, device, mode, scenes)
                if not finite:
                    table.failures.append(f"{what}: a parameter is not finite after the step")
                bound = limit(mode, device)
                table.add([name, mode, f"{loss:.4f}",
                           table.cell(abs(loss - ref_loss) / abs(ref_loss), bound, f"{what} loss"),
                           table.cell(rel_err(grads, ref_grads), GRAD_LIMIT_FACTOR * bound, f"{what} gradients"),
                           "yes" if finite else "NO"])
            except Exception as exc:  # noqa: BLE001
                table.add([name, mode, table.error(what, exc), "", "", ""])
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to try the script without a GPU")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: skipped: no CUDA device (torch.cuda.is_available() is False)")
        return 0
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu_check on {where}, torch {torch.__version__}; TF32: cuDNN {torch.backends.cudnn.allow_tf32}, "
          f"matmul {torch.backends.cuda.matmul.allow_tf32}")
    failures = []
    for check in (check_mechanisms, check_lab):
        table = check(device)
        table.print()
        failures += table.failures
    if failures:
        print(f"\nFAILED ({len(failures)}):")
        for f in failures:
            print(f"  {f}")
        return 1
    print("\nOK: every value within its limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
