"""Trainer overhead: samples/s of ``genlab.train`` vs a hand-written PyTorch loop, same networks.

    OMP_NUM_THREADS=1 python benchmarks/trainer_overhead.py [--quick] [--repeats 3]

Two workloads: a 2-D GAN (MLP, grid25) where per-step Python overhead is most visible, and a
32x32 DCGAN on shapes where the convolutions dominate. Both loops build the identical model
(``genlab.api.build_model``, same seed), the same Adam settings, batch size, losses and
alternating D/G updates; the plain loop freezes D during the G update and generates D's fakes
under ``no_grad`` exactly as genlab's phase switching does, so the difference is the trainer
(per-batch seeding, phase switching, logs kept as tensors and read every ``log_every`` steps,
the divergence guard's gradient norm and flag at every update, CSV rows). Both use fused Adam
(the trainer's optimizer; one kernel per update). The 2-D GAN runs the 2-D recipe (BatchNorm in
G, lr decay over the second half, which the plain loop leaves out: a few Python float
assignments per step); the DCGAN runs without the shapes recipe's DiffAugment and EMA.

Timing is steady state, the same window for both: from the end of step ``warm`` to the end of
the last step. Start-up (imports, Fabric set-up, data loading), the warm-up steps and genlab's
final checkpoint and sample figure are excluded from both. genlab's side is read from its
metrics.csv ``time`` column; periodic checkpoints and sample figures are switched off. Each
loop runs ``repeats`` times, interleaved, and the best rate of each is kept (the machine is
shared, and interference only ever slows a run down).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

from support.common import emit, log, parser

# name: (model, data, overrides, batch, steps, warm) for full and quick mode
WORKLOADS = {
    "gan2d_grid25": {"full": ("gan", "grid25", {}, 64, 3000, 500), "quick": ("gan", "grid25", {}, 64, 60, 20)},
    # the shapes recipe's DiffAugment and EMA are switched off: the plain loop does neither
    "dcgan32_shapes": {"full": ("gan", "shapes", {"width": 64, "augment": ""}, 64, 60, 10),
                       "quick": ("gan", "shapes", {"width": 8, "latent_dim": 16, "augment": ""}, 16, 20, 10)},
}
LOG_EVERY = 10


def genlab_rate(model: str, data: str, overrides: dict, batch: int, steps: int, warm: int, out: Path) -> float:
    import genlab

    genlab.train(model, data, out=out, steps=steps, batch_size=batch, seed=0, overrides=overrides, quiet=True,
                 overwrite=True, sample_every=0, ckpt_every=steps, log_every=LOG_EVERY, ema=False)
    rows = {int(r["step"]): float(r["time"]) for r in csv.DictReader(open(out / "metrics.csv"))}
    return (steps - warm) * batch / (rows[steps] - rows[warm])


def plain_rate(model: str, data: str, overrides: dict, batch: int, steps: int, warm: int) -> float:
    """The loop one would write by hand with the same pieces."""
    import torch

    from genlab import losses
    from genlab.api import build_model, data_info, resolve_config
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

    t0 = None
    for step in range(steps):
        if step == warm:
            t0 = time.perf_counter()
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
    return (steps - warm) * batch / (time.perf_counter() - t0)


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
                log(f"{name} #{r + 1}: genlab {g_rates[-1]:.0f} samples/s, plain {p_rates[-1]:.0f} samples/s")
            results[name] = {"model": model, "data": data, "overrides": overrides, "batch": batch, "steps": steps,
                             "warm": warm, "genlab_samples_per_s": max(g_rates), "plain_samples_per_s": max(p_rates),
                             "ratio": max(g_rates) / max(p_rates), "all_genlab": g_rates, "all_plain": p_rates}
    emit(args, results, started, target_ratio=0.97,
         timing="steady state from the end of step `warm` to the last step, start-up and final checkpoint "
                "excluded from both; best of `repeats` interleaved runs; samples/s = generator updates x batch / s")


if __name__ == "__main__":
    sys.exit(main())
