"""Every benchmark script, end to end in quick mode: it runs and prints the JSON it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

EXPECTED = {
    "mode_collapse": lambda r: set(r) == {"ring8", "grid25"}
    and set(r["grid25"]["models"]) == {"gan:minimax", "gan", "lsgan", "wgan-gp", "wgan-gp+dot", "wgan-gp+drs", "vae"}
    and {"modes", "hq", "reverse_kl"} <= set(r["ring8"]["models"]["vae"])
    and r["grid25"]["models"]["wgan-gp+drs"]["acceptance"]["mean"] > 0
    and r["grid25"]["models"]["wgan-gp"]["seeds"] == 1,
    "mnist5k_families": lambda r: set(r["models"]) == {"vae", "gan", "lsgan", "wgan-gp", "ae", "cgan", "cvae"}
    and "fd_mnist5k_cls" in r["models"]["gan"] and "nll" in r["models"]["vae"] and "psnr" in r["models"]["ae"]
    and all(0 <= r["models"][m]["class_accuracy"]["mean"] <= 1 for m in ("cgan", "cvae"))
    and "class_accuracy" not in r["models"]["gan"],
    "iwae_gap": lambda r: set(r) == {"vae", "iwae-k5", "iwae-k50"}
    and all(v["nll"] <= v["neg_elbo"] for v in r.values()),
    "lessons": lambda r: set(r) == {"minimax", "lsgan_grad", "wgan_stability", "vae_vs_gan", "reparam", "conditional"}
    and r["reparam"]["holds"] is True and r["lsgan_grad"]["holds"] is True
    and r["minimax"]["minimax"]["grad_norm_g_first_half"] > 0,
    "folder_cache": lambda r: r["first_run"]["processes"] >= 1 and r["first_run"]["cache_build_s"] > 0
    and r["second_run"]["time_to_first_step_s"] > 0 and r["second_run"]["samples_per_s"] > 0,
    "trainer_overhead": lambda r: set(r) == {"gan2d_grid25", "dcgan32_shapes"}
    and all(v["ratio"] > 0 and v["genlab_samples_per_s"] > 0 for v in r.values()),
}


@pytest.mark.slow
@pytest.mark.ci  # still part of `make test`: about 20 s on a quiet 2-core machine
def test_every_benchmark_runs_in_quick_mode(tmp_path):
    scripts = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))
    assert scripts == sorted(EXPECTED)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for name in scripts:
        r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick", "--out",
                            str(tmp_path / name)], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
        assert r.returncode == 0, f"{name}: {r.stderr[-2000:]}"
        doc = json.loads(r.stdout)
        assert doc["benchmark"] == name and doc["quick"] is True and doc["machine"]["torch"]
        assert EXPECTED[name](doc["results"]), f"{name}: unexpected results {doc['results']}"


def _study_row(model: str, data: str, fds: list[float], floor: float) -> dict:
    curve = [{"step": 100 * (i + 1), "time_s": 10.0 * (i + 1), "fd": fd, "cls_score": 2.0, "confidence": 0.5,
              "min_share": 0.1, "classes_5pct": 10} for i, fd in enumerate(fds)]
    return {"model": model, "data": data, "settings": {"steps": 100 * len(fds)}, "seed": 1, "wall_s": 1.0,
            "threads": 1, "fd_floor": floor, "final": {**curve[-1], "ema": True}, "curve": curve}


def test_plot_curves_restates_the_floor_and_keeps_one_clock(tmp_path):
    """--floor replaces a row's recorded floor per data set; --step-ms draws only the curves it
    times; --replot redraws a written document on a new floor: FD / floor is recomputed, FD kept."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in (_study_row("gan", "mnist5k", [4.0, 2.0], 0.5),
                                                        _study_row("vae", "mnist5k", [8.0, 6.0], 0.5))) + "\n")
    doc, png = tmp_path / "q.json", tmp_path / "q.png"
    script = str(ROOT / "scripts" / "plot_curves.py")
    run = subprocess.run([sys.executable, script, str(rows), "--json", str(doc), "--step-ms",
                          '{"gan on mnist5k": 50}', "--floor", '{"mnist5k": 0.25}'],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    curves = json.loads(doc.read_text())["curves"]
    assert [c["label"] for c in curves] == ["gan on mnist5k"]  # vae has no step time: not on this clock
    assert [p["fd_over_floor"] for p in curves[0]["points"]] == [16.0, 8.0]
    assert [p["minutes"] for p in curves[0]["points"]] == [round(100 * 50 / 1000 / 60, 2), round(200 * 50 / 1000 / 60, 2)]
    run = subprocess.run([sys.executable, script, "--replot", str(doc), "--floor", '{"mnist5k": 2.0}', "--png", str(png)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    points = json.loads(doc.read_text())["curves"][0]["points"]
    assert [(p["fd"], p["fd_over_floor"]) for p in points] == [(4.0, 2.0), (2.0, 1.0)]
    assert png.read_bytes()[:4] == b"\x89PNG"
    table = subprocess.run([sys.executable, script, str(rows), "--table", "--floor", '{"mnist5k": 0.25}'],
                           capture_output=True, text=True, timeout=120).stdout
    assert "| 8.0x |" in table and "| 24.0x |" in table  # final FD 2.0 and 6.0 over 0.25
