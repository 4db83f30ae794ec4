"""Trainer overhead: samples/s of ``genlab.train`` vs a hand-written PyTorch loop, same networks.

    OMP_NUM_THREADS=1 python benchmarks/trainer_overhead.py [--quick] [--repeats 3]

Two workloads: a 2-D GAN (MLP, grid25) where per-step Python overhead is most visible, and a
32x32 DCGAN on shapes where the convolutions dominate. Both loops build the identical model
(``genlab.models.build_model``, same seed), the same Adam settings, batch size, losses and
alternating D/G updates; the plain loop freezes D during the G update and generates D's fakes
under ``no_grad`` exactly as genlab's phase switching does, so the difference is the trainer
(per-batch seeding, phase switching, logs kept as tensors and read every ``log_every`` steps,
the divergence guard's gradient norm and flag at every update, CSV rows). Both use fused Adam
(the trainer's optimizer; one kernel per update). The 2-D GAN runs the 2-D recipe (BatchNorm in
G, lr decay over the second half, which the plain loop leaves out: a few Python float
assignments per step); the DCGAN runs without the shapes recipe's DiffAugment and EMA.

Timing is steady state, the same window for both: from the end of step ``warm`` to the end of
the last step. Start-up (imports, Fabric set-up, data loading), the warm-up steps and genlab's
final checkpoint and sample figure are excluded from both. genlab's side is timed by an observer
callback added to the default ones; periodic checkpoints and sample figures are switched off. Each
loop runs ``repeats`` times, interleaved, and the best rate of each is kept (the machine is
shared, and interference only ever slows a run down). Whole runs minutes apart can still differ
by up to 2x here, so the figure to quote is the paired one (``paired``): both loops in one
process, in alternating windows of a few steps, each pair compared at the machine's speed of
that moment (median and quartiles of the pairs' ratios).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from support.common import emit, log, parser

# name: (model, data, overrides, batch, steps, warm) for full and quick mode
WORKLOADS = {
    "gan2d_grid25": {"full": ("gan", "grid25", {}, 64, 3000, 500), "quick": ("gan", "grid25", {}, 64, 60, 20)},
    # the shapes recipe's DiffAugment, EMA and PacGAN packs are switched off (the plain loop does
    # none of them), and its nets kept as they were measured: transposed convolutions, 64-d noise
    "dcgan32_shapes": {"full": ("gan", "shapes", {"width": 64, "latent_dim": 64, "augment": "", "pack": 1,
                                                  "g_up": "transposed"}, 64, 60, 10),
                       "quick": ("gan", "shapes", {"width": 8, "latent_dim": 16, "augment": "", "pack": 1,
                                                   "g_up": "transposed"}, 16, 20, 10)},
}
LOG_EVERY = 10
# steps per paired window (see ``paired``): about a second of each loop
PAIRED_WINDOW = {"gan2d_grid25": {"full": 100, "quick": 10}, "dcgan32_shapes": {"full": 5, "quick": 2}}


def train_watched(model: str, data: str, overrides: dict, batch: int, steps: int, out: Path, observer) -> None:
    """``genlab.train`` as a user runs it (periodic checkpoints, figures, EMA and DiffAugment off,
    as the plain loop has none), with ``observer`` appended to the default callbacks."""
    import genlab
    from genlab.training import trainer as trainer_mod

    original = trainer_mod.default_callbacks
    trainer_mod.default_callbacks = lambda **kw: [*original(**kw), observer]
    try:
        genlab.train(model, data, out=out, steps=steps, batch_size=batch, seed=0, overrides=overrides, quiet=True,
                     overwrite=True, sample_every=0, ckpt_every=steps, log_every=LOG_EVERY, ema=False)
    finally:
        trainer_mod.default_callbacks = original


def genlab_rate(model: str, data: str, overrides: dict, batch: int, steps: int, warm: int, out: Path) -> dict:
    """samples/s of ``genlab.train`` from the end of step ``warm`` to the end of the last step, on
    the wall clock and on the process's CPU clock (read by an observer callback added to the
    default ones: the user's path, watched)."""
    from genlab.training.callbacks import Callback

    marks = {}

    class Clock(Callback):
        def on_step(self, trainer, step, logs):
            if step in (warm, steps):
                marks[step] = (time.perf_counter(), time.process_time())

    train_watched(model, data, overrides, batch, steps, out, Clock())
    n = (steps - warm) * batch
    return {"wall": n / (marks[steps][0] - marks[warm][0]), "cpu": n / (marks[steps][1] - marks[warm][1])}


def plain_loop(model: str, data: str, overrides: dict, batch: int):
    """The loop one would write by hand with the same pieces: ``run(n)`` does n more steps."""
    import torch

    from genlab import losses
    from genlab.configure import resolve_config
    from genlab.models import build_model, data_info
    from genlab.data import load_data

    bundle = load_data(data, seed=0)
    # the settings genlab.train resolves for the same arguments, presets for the data included
    cfg = resolve_config(model, data, {**overrides, "batch_size": batch, "seed": 0}, kind=bundle.kind)
    torch.manual_seed(0)
    net = build_model(model, cfg.model_args, data_info(bundle)).train()
    G, D = net.G, net.D
    betas = (cfg.model_args["beta1"], cfg.model_args["beta2"])
    # fused, as the trainer's: the comparison is of the loops, not of two Adam kernels
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.model_args["lr"], betas=betas, fused=True)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.model_args["lr"], betas=betas, fused=True)
    x, latent = bundle.x, net.latent_dim
    perm, pos = torch.randperm(len(x)), 0

    def next_batch():
        nonlocal perm, pos
        if pos + batch > len(x):
            perm, pos = torch.randperm(len(x)), 0
        pos += batch
        return x[perm[pos - batch:pos]]

    def run(n: int) -> None:
        for _ in range(n):
            real = next_batch()
            with torch.no_grad():
                fake = net.output(G(torch.randn(batch, latent)))
            d_loss = losses.bce_d_loss(D(net.to_net(real)), D(net.to_net(fake)))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            next_batch()  # genlab draws a fresh batch for the G phase too (only its size matters to G)
            D.requires_grad_(False)
            g_loss = losses.nonsaturating_g_loss(D(net.to_net(net.output(G(torch.randn(batch, latent))))))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            D.requires_grad_(True)

    return run


def plain_rate(model: str, data: str, overrides: dict, batch: int, steps: int, warm: int) -> dict:
    run = plain_loop(model, data, overrides, batch)
    run(warm)
    t0, c0 = time.perf_counter(), time.process_time()
    run(steps - warm)
    n = (steps - warm) * batch
    return {"wall": n / (time.perf_counter() - t0), "cpu": n / (time.process_time() - c0)}


def paired(model: str, data: str, overrides: dict, batch: int, steps: int, warm: int, window: int,
           out: Path) -> dict:
    """Paired windows in one process: ``genlab.train`` runs, and after every ``window`` of its steps
    an observer callback runs ``window`` steps of the plain loop; each pair of windows ran at the
    machine's speed of that moment, so their ratio does not drift with it (repeated whole runs on a
    shared machine differ by up to 2x). genlab's windows include its callbacks, not the plain loop."""
    from genlab.training.callbacks import Callback

    run = plain_loop(model, data, overrides, batch)
    run(warm)
    times: dict[str, list[float]] = {"genlab": [], "plain": []}

    class Pair(Callback):
        mark = None

        def on_step(self, trainer, step, logs):
            if step < warm or (step - warm) % window:
                return
            if self.mark is not None:
                times["genlab"].append(time.perf_counter() - self.mark)
                t = time.perf_counter()
                run(window)
                times["plain"].append(time.perf_counter() - t)
            self.mark = time.perf_counter()

    train_watched(model, data, overrides, batch, steps, out, Pair())
    ratios = sorted(p / g for g, p in zip(times["genlab"], times["plain"]))
    return {"windows": len(ratios), "window_steps": window, "median_ratio": ratios[len(ratios) // 2],
            "ratio_of_sums": sum(times["plain"]) / sum(times["genlab"]),
            "quartiles": [ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]]}


def main(argv=None) -> None:
    p = parser(__doc__, "trainer_overhead")
    p.add_argument("--repeats", type=int, default=None, help="interleaved runs of each loop [3; quick 1]")
    args = p.parse_args(argv)
    mode = "quick" if args.quick else "full"
    repeats = args.repeats or (1 if args.quick else 3)
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="genlab-overhead-") as tmp:
        for name, plans in WORKLOADS.items():
            model, data, overrides, batch, steps, warm = plans[mode]
            g_rates, p_rates = [], []
            for r in range(repeats):
                g_rates.append(genlab_rate(model, data, overrides, batch, steps, warm, Path(tmp) / name))
                p_rates.append(plain_rate(model, data, overrides, batch, steps, warm))
                log(f"{name} #{r + 1}: genlab {g_rates[-1]['wall']:.0f} samples/s ({g_rates[-1]['cpu']:.0f} per "
                    f"CPU-s), plain {p_rates[-1]['wall']:.0f} ({p_rates[-1]['cpu']:.0f} per CPU-s)")
            best = {c: (max(g[c] for g in g_rates), max(p[c] for p in p_rates)) for c in ("wall", "cpu")}
            window = PAIRED_WINDOW[name][mode]
            pairs = paired(model, data, overrides, batch, steps, warm, window, Path(tmp) / name)
            log(f"{name} paired: median ratio {pairs['median_ratio']:.3f} over {pairs['windows']} windows "
                f"of {window} steps (quartiles {pairs['quartiles'][0]:.3f}-{pairs['quartiles'][1]:.3f})")
            results[name] = {"model": model, "data": data, "overrides": overrides, "batch": batch, "steps": steps,
                             "warm": warm, "genlab_samples_per_s": best["wall"][0],
                             "plain_samples_per_s": best["wall"][1],
                             "ratio": best["wall"][0] / best["wall"][1],
                             "genlab_samples_per_cpu_s": best["cpu"][0], "plain_samples_per_cpu_s": best["cpu"][1],
                             "ratio_cpu": best["cpu"][0] / best["cpu"][1], "paired": pairs,
                             "all_genlab": g_rates, "all_plain": p_rates}
    emit(args, results, started, target_ratio=0.97,
         timing="steady state from the end of step `warm` to the last step, start-up and final checkpoint "
                "excluded from both; best of `repeats` interleaved runs; samples/s = generator updates x batch / s, "
                "on the wall clock (ratio) and per second of the process's CPU time (ratio_cpu: one thread, so "
                "time the machine gave to others is not counted)")


if __name__ == "__main__":
    sys.exit(main())
