"""Training runs of ``python -m attn_edu.lab``, one model each, in worker processes or in this one.

Its own module (not ``__main__``) so that spawned workers can import the functions they run.
"""

from __future__ import annotations


def fit(name: str, task: str, seed: int | None, epochs: int | None, progress: bool) -> dict:
    """Train one model and evaluate it (a worker of ``python -m attn_edu.lab train``): its state and record."""
    import dataclasses

    from .evaluate import evaluate_largest, evaluate_model
    from .model import build
    from .store import state_sha256
    from .train import TrainConfig, largest_config, train

    largest = task == "largest"
    cfg = largest_config(name) if largest else TrainConfig(name)
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    model, log = train(cfg, progress=progress)
    init = build(name, cfg.seed).eval()
    metrics = evaluate_largest(model) if largest else evaluate_model(model, None if name == "none" else init)
    final = sum(log["losses"][-50:]) / len(log["losses"][-50:])
    record = {"config": cfg.asdict(), "metrics": metrics, "train_seconds": round(log["train_seconds"], 1),
              "final_loss": final, "untrained_sha256": state_sha256(init.state_dict()),
              "threads": cfg.threads}
    return {"name": name, "seed": cfg.seed, "state": model.state_dict(), "record": record}


def fit_accuracy(name: str, epochs: int, distractors: str | None, tests: tuple[str, ...]) -> dict:
    """Train ``name`` at seed 0 for ``epochs`` (the second task) and return its accuracy on the test
    sets made with each of ``tests``' distractor rules (a worker of ``steps``)."""
    import dataclasses

    from .evaluate import largest_accuracy
    from .largest import largest_test_scenes
    from .train import largest_config, train

    cfg = dataclasses.replace(largest_config(name), epochs=epochs, distractors=distractors)
    model, _ = train(cfg, progress=False)
    return {"name": name, "steps": cfg.steps, "trained_on": distractors,
            **{t: largest_accuracy(model, largest_test_scenes(distractors=t)) for t in tests}}


def pool(fn, tasks: list[tuple], jobs: int):
    """``fn(*task)`` for each task, in ``jobs`` processes (spawned: each its own torch), as each finishes."""
    if jobs == 1:
        yield from (fn(*t) for t in tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(fn, *t) for t in tasks]):
            yield future.result()
