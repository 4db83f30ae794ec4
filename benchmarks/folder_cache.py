"""Image folders at scale: the first run's cache build, the second run's start, memory and speed.

    OMP_NUM_THREADS=1 python benchmarks/folder_cache.py [--quick] [--n 100000] [--steps 30]

A synthetic folder of N RGB 64x64 JPEGs (smooth random colour fields, 1,000 per sub-folder,
written once into the work folder and reused) is trained on twice with ``genlab train``, each
time in a fresh process, with an empty cache folder before the first run:

- first run: decodes the folder into the cache (worker processes on every core); the build
  time and the number of processes come from the cache's manifest;
- second run: reuses the cache (a memory map), so it starts without decoding.

For each run: the time from starting the process to the end of its first training step (read
as the first metrics.csv row appears), the peak resident memory of the process, and the
training rate (samples/s over the steps after the first). ``float_bytes`` is what the images
would take as float32 in memory, ``cache_bytes`` what they take as uint8 on disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from support.common import ROOT, emit, log, parser, work_dir

SIZE, PER_FOLDER = 64, 1000
# genlab.train in a fresh process, then its own peak RSS (kB on Linux) as the last stdout line
DRIVER = ("import json, resource, sys; import genlab; a = json.loads(sys.argv[1]); genlab.train(**a); "
          "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def _write_jpegs(args: tuple[Path, int, int]) -> None:
    import numpy as np
    from PIL import Image

    folder, start, stop = args
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        small = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
        small.resize((SIZE, SIZE), Image.BILINEAR).save(folder / f"{i:07d}.jpg", quality=90)


def make_folder(top: Path, n: int) -> None:
    """N JPEGs under ``top`` (kept between runs of the benchmark; remade when N differs)."""
    if top.is_dir() and sum(1 for _ in top.rglob("*.jpg")) == n:
        return
    shutil.rmtree(top, ignore_errors=True)
    parts = [(top / f"{s // PER_FOLDER:04d}", s, min(s + PER_FOLDER, n)) for s in range(0, n, PER_FOLDER)]
    with ProcessPoolExecutor() as pool:
        list(pool.map(_write_jpegs, parts))


def timed_run(args: dict, out: Path) -> dict:
    """One training run in a fresh process: time to its first step, peak RSS, samples/s."""
    csv = out / "metrics.csv"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps({**args, "out": str(out)})], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = None
    while proc.poll() is None:
        if first is None and csv.is_file() and len(csv.read_text().splitlines()) >= 2:
            first = time.perf_counter() - t0
        time.sleep(0.01)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"training failed: {stderr[-2000:]}")
    rows = [line.split(",") for line in csv.read_text().splitlines()]
    times = [float(r[rows[0].index("time")]) for r in rows[1:]]
    steps = len(times)
    rate = (steps - 1) * args["batch_size"] / (times[-1] - times[0]) if steps > 1 else None
    return {"time_to_first_step_s": first if first is not None else time.perf_counter() - t0,
            "peak_rss_mb": int(stdout.split()[-1]) / 1024, "samples_per_s": rate}


def main(argv=None) -> None:
    p = parser(__doc__, "folder_cache")
    p.add_argument("--n", type=int, default=None, help="images in the folder [100000; quick 300]")
    p.add_argument("--steps", type=int, default=None, help="training steps per run [30; quick 5]")
    args = p.parse_args(argv)
    n = args.n or (300 if args.quick else 100_000)
    steps = args.steps or (5 if args.quick else 30)
    started, work = time.perf_counter(), work_dir(args)
    top, cache = work / f"jpegs_{n}", work / "cache"
    log(f"writing {n} JPEGs to {top} (once)")
    make_folder(top, n)
    shutil.rmtree(cache, ignore_errors=True)
    train = {"model": "gan", "data": f"folder:{top}", "steps": steps, "batch_size": 16 if args.quick else 64,
             "seed": 0, "cache_dir": str(cache), "overrides": {"width": 16, "latent_dim": 32}, "overwrite": True,
             "log_every": 1, "sample_every": 0, "ckpt_every": steps}
    results = {"images": n, "image_size": SIZE, "steps": steps, "batch_size": train["batch_size"]}
    for name in ("first_run", "second_run"):
        shutil.rmtree(work / name, ignore_errors=True)
        results[name] = timed_run(train, work / name)
        log(f"{name}: {results[name]['time_to_first_step_s']:.1f} s to the first step, "
            f"peak RSS {results[name]['peak_rss_mb']:.0f} MB")
    (manifest,) = [json.loads(m.read_text()) for m in cache.glob("folder-*.json")]
    results["first_run"].update(cache_build_s=manifest["seconds"], processes=manifest["workers"])
    results["cache_bytes"] = manifest["bytes"]
    results["float_bytes"] = 4 * n * 3 * SIZE * SIZE
    emit(args, results, started, timing="time to first step: from starting the process to the first metrics.csv "
         "row (log_every=1); samples/s over the steps after the first; peak RSS of the training process")


if __name__ == "__main__":
    sys.exit(main())
