"""Quality against time from tune_images rows: one JSON document and one figure.

    python scripts/plot_curves.py runs/tune/r2_a.jsonl runs/tune/r2_b.jsonl \
        --json docs/figures/quality_vs_time.json --png docs/figures/quality_vs_time.png \
        [--step-ms '{"gan": 21.5, "vae": 9.0}'] [--floor '{"mnist5k": 0.226}']

Each row of ``scripts/tune_images.py --curve K`` holds the run's scores at K checkpoints with the
training time at each, taken while several study processes shared the cores. ``--step-ms`` puts
the curves on the clock users see instead: milliseconds per step of each family (a curve's
label, or its model name) measured alone on 2 cores (``scripts/step_times.py``); a checkpoint's
minutes are then its step times that figure, and only the curves it names are drawn (one clock per
figure). ``--floor`` replaces the rows' real-vs-real FD floor per data set (rows recorded before
tune_images.py measured the floor like for like: n training images against the held-out split, as
the samples are scored). Rows of one (model, data, settings) with several seeds are averaged at
equal checkpoints; the figure shows FD as a multiple of the real-vs-real floor (log scale), the
classifier score, and the classes holding >= 5% of the samples.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

KEYS = ("fd", "cls_score", "confidence", "classes_5pct", "min_share", "class_acc")


def label(row: dict) -> str:
    settings = {k: v for k, v in row["settings"].items() if k != "steps"}
    text = ", ".join(f"{k}={v}" for k, v in settings.items())
    return f"{row['model']} on {row['data']}" + (f" ({text})" if text else "")


def curves(rows: list[dict], scale: float, step_ms: dict | None = None) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        if r.get("curve") and (step_ms is None or label(r) in step_ms or r["model"] in step_ms):
            groups[label(r)].append(r)
    out = []
    for name, rs in groups.items():
        points = []
        for i in range(min(len(r["curve"]) for r in rs)):
            at = [r["curve"][i] for r in rs]
            ms = (step_ms or {}).get(name) or (step_ms or {}).get(rs[0]["model"])
            seconds = at[0]["step"] * ms / 1000 if ms else scale * statistics.mean(a["time_s"] for a in at)
            p = {"step": at[0]["step"], "minutes": round(seconds / 60, 2)}
            for k in KEYS:
                vals = [a[k] for a in at if k in a]
                if vals:
                    p[k] = round(statistics.mean(vals), 4)
            p["fd_over_floor"] = round(p["fd"] / statistics.mean(r["fd_floor"] for r in rs), 2)
            points.append(p)
        out.append({"label": name, "model": rs[0]["model"], "data": rs[0]["data"], "settings": rs[0]["settings"],
                    "seeds": sorted(r["seed"] for r in rs), "points": points})
    return out


def table(rows: list[dict]) -> str:
    """The study's rows as a Markdown table, best FD first: final (EMA) scores, one row per run."""
    out = ["| model | settings over the recipe | seed | steps | wall s (shared) | FD | FD / floor | score | confidence | classes >= 5% | rarest | class acc |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["final"]["fd"] / r["fd_floor"]):
        f = r["final"]
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items() if k != "steps") or "(the recipe)"
        acc = f"{f['class_acc']:.3f}" if "class_acc" in f else ""
        wall = "resumed" if r["wall_s"] is None else f"{r['wall_s']:.0f}"  # a run resumed from another's checkpoint
        out.append(f"| {r['model']} | {settings} | {r['seed']} | {f['step']:,} | {wall} | {f['fd']:.2f} | "
                   f"{f['fd'] / r['fd_floor']:.1f}x | {f['cls_score']:.2f} | {f['confidence']:.3f} | "
                   f"{f['classes_5pct']} | {100 * f['min_share']:.1f}% | {acc} |")
    return "\n".join(out)


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), dpi=100)
    colors = plt.cm.tab20.colors if len(doc["curves"]) > 10 else plt.cm.tab10.colors  # one colour per curve
    for i, c in enumerate(doc["curves"]):
        t = [p["minutes"] for p in c["points"]]
        for ax, key in zip(axes, ("fd_over_floor", "cls_score", "classes_5pct")):
            ax.plot(t, [p[key] for p in c["points"]], marker="o", ms=3, label=c["label"], color=colors[i % len(colors)])
    for ax, title in zip(axes, ("FD / real-vs-real floor (log)", "classifier score (real ~9)", "classes with >= 5% of samples")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"minutes ({doc['clock']})", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].axhline(3, color="k", ls=":", lw=1)
    axes[2].axhline(10, color="k", ls=":", lw=1)
    axes[2].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("rows", nargs="*", type=Path)
    p.add_argument("--replot", type=Path, help="redraw a document this script wrote (with --floor: on that floor)")
    p.add_argument("--json", type=Path)
    p.add_argument("--png", type=Path)
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--step-ms", type=json.loads, default=None, help="JSON {label or model: ms per step alone}")
    p.add_argument("--floor", type=json.loads, default=None, help="JSON {data: real-vs-real FD floor}")
    p.add_argument("--clock", default=None)
    p.add_argument("--table", action="store_true", help="print the rows as a Markdown table and stop")
    args = p.parse_args()
    if args.replot:
        doc = json.loads(args.replot.read_text())
        for c in doc["curves"]:
            floor = (args.floor or {}).get(c["data"])
            for q in c["points"] if floor else ():
                q["fd_over_floor"] = round(q["fd"] / floor, 2)
        doc["floor"] = args.floor or doc.get("floor")
        return write(doc, args.json or args.replot, args.png)
    rows = [json.loads(line) for f in args.rows for line in f.read_text().splitlines() if line.strip()]
    for r in rows:
        r["fd_floor"] = (args.floor or {}).get(r["data"], r["fd_floor"])
    if args.table:
        print(table(rows))
        return
    clock = args.clock or ("2 cores alone: steps x measured step time" if args.step_ms else
                           "one thread per run, several runs at once")
    doc = {"clock": clock, "step_ms": args.step_ms, "floor": args.floor,
           "curves": curves(rows, args.time_scale, args.step_ms)}
    write(doc, args.json, args.png)


def write(doc: dict, json_path: Path, png: Path | None) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    if png:
        plot(doc, png)
    for c in doc["curves"]:
        last = c["points"][-1]
        print(f"{c['label']}: {last['minutes']} min, FD {last['fd_over_floor']}x floor, "
              f"score {last['cls_score']}, classes>=5% {last['classes_5pct']}")


if __name__ == "__main__":
    main()
