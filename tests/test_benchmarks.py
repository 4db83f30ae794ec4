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
