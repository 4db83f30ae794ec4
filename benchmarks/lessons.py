"""The lecture's claims about the classic families, each measured (results in docs/lessons.md).

    OMP_NUM_THREADS=1 python benchmarks/lessons.py [--quick] [--only minimax,lsgan_grad,...]

One JSON section per claim, each with its measurement and ``holds`` (the criterion is written
next to it). Claims that compare trained families on digits or on the 2-D grid read the
leaderboards of ``mnist5k_families.py`` and ``mode_collapse.py`` (run those first; a missing one
is reported, not faked).
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import time
from pathlib import Path

from support.common import ROOT, emit, log, parser, work_dir

BENCH = ROOT / "runs" / "bench"


def read_csv(path: Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r[k] not in ("", None) else float("nan") for r in rows] for k in rows[0]}


def train(model: str, data: str, out: Path, **kw):
    import genlab

    if not (out / "model.safetensors").is_file():
        genlab.train(model, data, out=out, quiet=True, overwrite=True, **kw)
    return read_csv(out / "metrics.csv")


def minimax(args, work: Path) -> dict:
    """Saturating log(1 - D(G(z))) starves G early, when D rejects its fakes; -log D(G(z)) does not."""
    steps, seeds = (20, 1) if args.quick else (100, 3)
    out = {}
    for loss in ("minimax", "nonsaturating"):
        g, acc = [], []
        for seed in range(seeds):
            cols = train("gan", "mnist5k", work / "minimax" / f"{loss}-s{seed}", steps=steps, seed=seed, log_every=1,
                         sample_every=0, overrides={"loss": loss})
            first = [i for i, s in enumerate(cols["step"]) if s <= steps // 2]
            g.append(statistics.fmean(cols["grad_norm_g"][i] for i in first))
            acc.append(statistics.fmean(cols["d_acc_fake"][i] for i in first))
        out[loss] = {"grad_norm_g_first_half": statistics.fmean(g), "per_seed": g, "d_acc_fake": statistics.fmean(acc)}
    ratio = out["minimax"]["grad_norm_g_first_half"] / out["nonsaturating"]["grad_norm_g_first_half"]
    return {**out, "steps": steps, "seeds": seeds, "ratio_minimax_over_ns": ratio,
            "criterion": "minimax G gradient norm < 0.5x the non-saturating one over the first half", "holds": ratio < 0.5}


def lsgan_grad(args, work: Path) -> dict:
    """Least squares keeps gradients for fakes far on the real side of the boundary; BCE's vanish."""
    import torch

    from genlab import losses

    logits = [0.0, 2.0, 5.0, 10.0]  # D's raw output on a fake: ever more confidently "real"
    rows = {}
    for name, fn in (("nonsaturating", losses.nonsaturating_g_loss), ("lsgan", losses.lsgan_g_loss)):
        grads = []
        for v in logits:
            t = torch.tensor([[v]], requires_grad=True)
            fn(t).backward()
            grads.append(abs(float(t.grad)))
        rows[name] = dict(zip(map(str, logits), grads))
    coverage = board_values("mnist5k_families", ["gan", "lsgan"], "class_coverage")
    modes = board_values("mode_collapse/grid25/families", ["gan", "lsgan"], "modes")
    holds = rows["nonsaturating"]["10.0"] < 1e-3 < rows["lsgan"]["10.0"]
    return {"grad_wrt_logit": rows, "grid25_modes": modes, "mnist5k_class_coverage": coverage,
            "criterion": "at logit 10 the BCE gradient < 1e-3 and the LSGAN one > 1e-3 (the coverage rows are "
                         "reported beside it, judged in docs/lessons.md)", "holds": holds}


def board_values(name: str, models: list[str], metric: str) -> dict | str:
    path = BENCH / name / "leaderboard.json"
    if not path.is_file():
        return f"missing: run the benchmark that writes {path}"
    rows = json.loads(path.read_text())["rows"]
    return {m: rows[m]["metrics"][metric] for m in models if m in rows and metric in rows[m]["metrics"]}


def wgan_stability(args, work: Path) -> dict:
    """WGAN-GP trains across learning rates where the GAN does not; its critic's estimate tracks quality."""
    from genlab.data import load_data
    from genlab.metrics.toy2d import mode_scores

    import genlab
    from genlab.sampling import draw

    data = load_data("grid25")
    lrs = [float(v) for v in args.lrs.split(",") if v] or ([1e-4] if args.quick else [])
    steps = {"gan": 30, "wgan-gp": 30} if args.quick else {"gan": 6000, "wgan-gp": 1400}
    sweep = {}
    for model in ("gan", "wgan-gp"):
        for lr in lrs:
            run = work / "wgan" / f"{model}-lr{lr:g}"
            train(model, "grid25", run, steps=steps[model], lr=lr, seed=0)
            loaded = genlab.load(run)
            s = mode_scores(draw(getattr(loaded, "model", loaded), 2500, seed=0), data.modes, data.mode_std)
            sweep[f"{model} lr={lr:g}"] = {"modes": float(s["modes"]), "hq": float(s["hq"])}
    corr = {}
    for seed_dir in sorted((BENCH / "mode_collapse/grid25/best/runs").glob("*/seed*"))[:10]:
        cols = read_csv(seed_dir / "metrics.csv")
        pairs = [(w, m) for w, m in zip(cols["wasserstein"], cols["modes"]) if m == m and w == w]
        if len(pairs) > 3:
            corr[seed_dir.name] = spearman([p[0] for p in pairs], [p[1] for p in pairs])
    mean_corr = statistics.fmean(corr.values()) if corr else float("nan")
    spread = {m: statistics.pstdev([v["modes"] for k, v in sweep.items() if k.startswith(m + " ")])
              for m in ("gan", "wgan-gp")} if len(lrs) > 1 else None
    seeds = {"gan (3 seeds)": board_values("mode_collapse/grid25/families", ["gan"], "modes"),
             "wgan-gp (10 seeds)": board_values("mode_collapse/grid25/best", ["wgan-gp"], "modes")}
    holds = mean_corr < -0.5 and (spread is None or spread["wgan-gp"] <= spread["gan"])
    return {"lr_sweep_grid25": sweep, "modes_spread_over_lr": spread, "modes_over_seeds": seeds,
            "spearman_wasserstein_vs_modes_during_training": corr, "mean_spearman": mean_corr,
            "criterion": "the critic's estimate falls as modes rise (mean Spearman < -0.5) and, with --lrs, "
                         "wgan-gp's spread of modes over the learning rates <= gan's", "holds": holds}


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(v):
        order = sorted(range(len(v)), key=v.__getitem__)
        r = [0.0] * len(v)
        for i, j in enumerate(order):
            r[j] = float(i)
        return r

    return statistics.correlation(ranks(a), ranks(b))


def vae_vs_gan(args, work: Path) -> dict:
    """The VAE is stable but blurry; the GAN sharp but less stable (same decoder network)."""
    sharp = board_values("mnist5k_families", ["vae", "gan"], "sharpness")
    fd = board_values("mnist5k_families", ["vae", "gan"], "fd_mnist5k_cls")
    if isinstance(sharp, str) or len(sharp) < 2:
        return {"missing": sharp, "holds": None}
    holds = sharp["gan"]["mean"] > sharp["vae"]["mean"] and fd["gan"]["se"] > fd["vae"]["se"]
    return {"sharpness": sharp, "fd_mnist5k_cls": fd,
            "criterion": "gan sharper than vae, and gan's FD s.e. over seeds larger than vae's", "holds": holds}


def reparam(args, work: Path) -> dict:
    """With z = mu + sigma * eps the decoder's loss reaches the encoder; sampling z directly does not."""
    import torch

    import genlab
    from genlab.losses import reparameterize

    model = genlab.train("vae", "mnist5k", out=work / "reparam", steps=1, quiet=True, overwrite=True, sample_every=0)
    x = torch.randn(16, *model.info.shape).clamp(-1, 1)
    norms = {}
    for how in ("reparameterized", "sampled (no trick)"):
        model.zero_grad()
        mu, logvar = model.encode(x)
        eps = torch.randn_like(mu)
        z = reparameterize(mu, logvar, eps) if how == "reparameterized" else reparameterize(mu, logvar, eps).detach()
        model.recon_nll(model.decoder(z), x).mean().backward()
        grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
        norms[how] = float(torch.sqrt(sum((g ** 2).sum() for g in grads))) if grads else 0.0
    return {"encoder_grad_norm_from_reconstruction": norms,
            "criterion": "nonzero through the trick, zero without", "holds": norms["reparameterized"] > 0 == norms["sampled (no trick)"]}


def conditional(args, work: Path) -> dict:
    """A class-conditional model produces the class it is asked for (default recipes, mnist5k).

    Reads the seed runs of ``mnist5k_families.py`` (the same default recipes) when they are there,
    else trains one seed of each here."""
    import torch

    import genlab
    from genlab.metrics.features import load_classifier
    from genlab.sampling import draw

    clf = load_classifier("mnist5k_cls")
    out = {}
    for model in ("cgan", "cvae"):
        runs = [] if args.quick else sorted((BENCH / "mnist5k_families" / "runs" / model).glob("seed*/model.safetensors"))
        runs = [r.parent for r in runs]
        if not runs:
            runs = [work / "conditional" / model]
            train(model, "mnist5k", runs[0], seed=0, **({"steps": 20} if args.quick else {}))
        per_seed = []
        for run in runs:
            loaded = genlab.load(run)
            m = getattr(loaded, "model", loaded)
            seed = json.loads((run / "config.json").read_text())["train"]["seed"]
            # fresh noise per class, drawn as `genlab eval --metrics class_accuracy` draws it
            per_seed.append([float((clf.predict(draw(m, 100, seed=seed + k, label=k)) == k).double().mean())
                             for k in range(10)])
        per_class = [statistics.fmean(col) for col in zip(*per_seed)]
        out[model] = {"class_accuracy": statistics.fmean(per_class), "per_class": per_class,
                      "per_seed": [statistics.fmean(a) for a in per_seed], "runs": [str(r) for r in runs],
                      "steps": json.loads((runs[0] / "config.json").read_text())["train"]["steps"]}
    targets = {"cgan": 0.95, "cvae": 0.90}
    return {**out, "criterion": "class accuracy >= 0.95 (cgan) / 0.90 (cvae)",
            "holds": all(out[m]["class_accuracy"] >= t for m, t in targets.items()), "torch_threads": torch.get_num_threads()}


CLAIMS = {"minimax": minimax, "lsgan_grad": lsgan_grad, "wgan_stability": wgan_stability, "vae_vs_gan": vae_vs_gan,
          "reparam": reparam, "conditional": conditional}


def main(argv=None) -> None:
    p = parser(__doc__, "lessons")
    p.add_argument("--only", default=",".join(CLAIMS), help=f"comma list of {', '.join(CLAIMS)}")
    p.add_argument("--lrs", default="", help="wgan_stability: also train gan and wgan-gp on grid25 at these "
                   "learning rates (comma list, e.g. 1e-4,5e-4,2e-3; ~10 CPU-minutes each pair)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    work = work_dir(args)
    results = {}
    for name in args.only.split(","):
        t0 = time.perf_counter()
        results[name] = {**CLAIMS[name](args, work), "seconds": round(time.perf_counter() - t0, 1)}
        log(f"{name}: holds={results[name].get('holds')} ({results[name]['seconds']} s)")
    emit(args, results, started)


if __name__ == "__main__":
    sys.exit(main())
