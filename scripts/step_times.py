"""Step times of the recipes, measured alone: what sizes each preset's steps to its budget.

    python scripts/step_times.py --variant '{"model": "gan", "data": "mnist5k"}' [--variant ...] \
        [--short 40] [--long 240] >> runs/tune/step_times.jsonl

Each variant (a family, a data set and settings over its recipe) is trained twice from scratch
with the recipe's own defaults (sample figures, checkpoints and all), for ``--short`` and
``--long`` steps; the difference of the two wall times over the difference of the steps is the
time of one step, and what is left of the short run is the fixed cost (start-up, data, the last
figure and checkpoint; a 2-step run before them warms up imports and data). Run it with nothing else on the machine: it prints one JSON line per
variant with ``ms_per_step``, ``fixed_s`` and the thread count.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def timed(model: str, data: str, settings: dict, steps: int, root: Path) -> float:
    import genlab

    t0 = time.perf_counter()
    genlab.train(model, data, out=root / f"s{steps}", steps=steps, overrides=settings, quiet=True, overwrite=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--variant", action="append", required=True, help='JSON: {"model": ..., "data": ..., settings}')
    p.add_argument("--short", type=int, default=40)
    p.add_argument("--long", type=int, default=240)
    args = p.parse_args()
    import torch

    for v in args.variant:
        settings = json.loads(v)
        model, data = settings.pop("model"), settings.pop("data")
        with tempfile.TemporaryDirectory() as tmp:
            timed(model, data, settings, 2, Path(tmp))  # imports, data and kernels warmed up, not timed
            short = timed(model, data, settings, args.short, Path(tmp))
            long = timed(model, data, settings, args.long, Path(tmp))
        ms = 1000 * (long - short) / (args.long - args.short)
        print(json.dumps({"model": model, "data": data, "settings": settings, "ms_per_step": round(ms, 2),
                          "fixed_s": round(short - args.short * ms / 1000, 2), "threads": torch.get_num_threads(),
                          "steps": [args.short, args.long], "wall_s": [round(short, 2), round(long, 2)]}), flush=True)


if __name__ == "__main__":
    main()
