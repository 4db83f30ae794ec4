"""Data parallelism on 2 CPU processes, run as users run it: default model settings (BatchNorm
in G), long enough to pass the live mode score, a sample figure and a periodic checkpoint;
signals and a dying worker end every process."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, run_cli

DDP = ["--devices", "2", "--accelerator", "cpu"]


def _pids(out) -> list[int]:
    """Every live process of a run, found by its unique --out path (rank 0 first)."""
    r = subprocess.run(["pgrep", "-f", "--", f"--out {out}"], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def _start(*args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "genlab", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(run, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t = time.time()
    while time.time() - t < timeout:
        path = run / "metrics.csv"
        if path.exists() and len(path.read_text().splitlines()) > n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the run logged no rows in time")


def _gone(out, timeout: float = 10) -> bool:
    t = time.time()
    while _pids(out) and time.time() - t < timeout:
        time.sleep(0.2)
    return not _pids(out)


def test_readme_ddp_example_finishes_with_figures_live_scores_and_checkpoints(tmp_path):
    """The README's `--devices 2` command (short steps) ends on its own: the live mode count
    (every 10 x log_every steps) and the sample figures run on rank 0 alone, through the plain
    modules, so no collective waits for a rank that never comes."""
    out = tmp_path / "ddp"
    r = run_cli("train", "wgan-gp", "--data", "grid25", *DDP, "--steps", "50", "--out", out,
                "--set", "log_every=5", "--set", "sample_every=25", "--set", "ckpt_every=25", timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("run written") == 1  # rank 0 speaks for the run
    assert (out / "samples" / "step_0000025.png").is_file() and (out / "samples" / "step_0000050.png").is_file()
    assert {p.name for p in (out / "checkpoints").iterdir()} >= {"step_000000025", "step_000000050"}
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert rows[-1]["step"] == "50" and rows[-1]["modes"] != ""
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert len(header) == len(set(header)), header
    assert _gone(out)


def test_sigterm_ends_every_rank_with_a_checkpoint_and_resume_continues(tmp_path):
    """SIGTERM to rank 0 alone (`kill PID`): both processes stop at the same step, one
    checkpoint is saved, the exit code is 143; resuming on 2 processes then gives the weights
    of an uninterrupted 2-process run."""
    out = tmp_path / "run"
    # constant lr: the preset's decay is tied to --steps, which differs between the runs
    common = ["gan", "--data", "grid25", *DDP, "--set", "ckpt_every=100000", "--set", "lr_decay=0", "--seed", "3"]
    proc = _start("train", *common, "--steps", "100000", "--out", out)
    _wait_for_rows(out, 2, proc)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.count("error: interrupted at step") == 1, err
    assert _gone(out)
    step = torch.load(out / "state.pt", weights_only=True)["step"]
    assert step >= 20
    target = step + 15
    r = run_cli("train", *common, "--steps", target, "--out", out, "--resume", timeout=240)
    assert r.returncode == 0, r.stderr
    ref = tmp_path / "ref"
    r = run_cli("train", *common, "--steps", target, "--out", ref, timeout=240)
    assert r.returncode == 0, r.stderr
    a, b = load_file(str(out / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


@pytest.mark.slow
def test_a_dying_worker_ends_the_run_with_a_clear_error(tmp_path):
    out = tmp_path / "run"
    proc = _start("train", "gan", "--data", "ring8", *DDP, "--steps", "100000", "--out", out)
    _wait_for_rows(out, 1, proc)
    worker = [p for p in _pids(out) if p != proc.pid]
    assert worker, "no worker process found"
    os.kill(worker[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    if proc.returncode > 0:  # not cut short by the launcher's own watchdog (SIGKILL after ≤5 s)
        assert "another process of this 2-process run stopped" in err, err
    assert _gone(out)


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130)])
def test_sigint_to_every_rank_saves_once(tmp_path, sig, code):
    """Ctrl-C reaches the whole process group: each rank sees it once, the stop is still agreed."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "genlab", "train", "gan", "--data", "ring8", *DDP,
                             "--steps", "100000", "--out", str(out)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    _wait_for_rows(out, 1, proc)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.count("error: interrupted at step") == 1, err
    assert _gone(out)
    assert (out / "state.pt").is_file() and len(list((out / "checkpoints").iterdir())) == 1


# an infinite loss on rank 1 alone, at its 4th generator update; its gradients stay finite, so
# only the guard's agreement (not DDP's gradient averaging) can make rank 0 skip that update too
INF_ON_RANK_1 = '''
import os
if os.environ.get("LOCAL_RANK") == "1":
    from genlab.models.gan import GAN
    _loss, _calls = GAN.loss, [0]
    def loss(self, phase, batch):
        value, logs = _loss(self, phase, batch)
        if phase == "g":
            _calls[0] += 1
            if _calls[0] == 4:
                value = value + float("inf")
        return value, logs
    GAN.loss = loss
'''


@pytest.mark.parametrize("policy", ["skip", pytest.param("stop", marks=pytest.mark.slow)])
def test_the_guard_agrees_across_ranks(tmp_path, policy):
    """A non-finite loss on one rank: every rank skips that update (rank 0 counts it though its
    own loss was finite), or every rank stops with the one divergence error; nobody hangs."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(INF_ON_RANK_1)
    env = {"PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "run"
    r = run_cli("train", "gan", "--data", "ring8", *DDP, "--steps", "8", "--batch-size", "32", "--out", out,
                "--set", "hidden=32", "--set", "log_every=1", "--set", f"nan_policy={policy}", env=env, timeout=240)
    if policy == "skip":
        assert r.returncode == 0, r.stderr
        skipped = {int(row["step"]): row["skipped"] for row in csv.DictReader(open(out / "metrics.csv"))}
        assert skipped[3] == "" and skipped[4] == "1" and skipped[8] == "1", skipped
    else:
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "at step 4, phase 'g': training diverged" in lines[0], r.stderr
        assert "another process" in lines[0] or "loss is inf" in lines[0]
    assert _gone(out)
