"""Crash safety, interruption, the divergence guard, health signals and the TensorBoard logger.

The kill tests run the real command (``python -m genlab train``) and SIGKILL it at random
moments while it writes a checkpoint at every step; after each kill the newest checkpoint must
load and ``--resume`` must carry on, and the run finished through all those kills must equal,
bit for bit, a run that was never interrupted.
"""

from __future__ import annotations

import csv
import math
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import genlab
from genlab.cli import main
from genlab.training.checkpoint import load_latest, load_state, load_weights

from conftest import ROOT

# hidden=256: 12 MB of weights and optimizer state per checkpoint, so a write takes most of each step
KILL_SETTINGS = ["--batch-size", "32", "--seed", "3", "--set", "hidden=256", "--set", "keep_last=2",
                 "--set", "log_every=1", "--set", "sample_every=0"]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def start(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "genlab", *map(str, args)], cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def newest_checkpoint(run: Path) -> int:
    steps = [int(p.name.split("_")[1]) for p in (run / "checkpoints").glob("step_*") if p.is_dir()]
    return max(steps, default=0)


def wait_for(cond, proc: subprocess.Popen, timeout: float = 120.0, pause: float = 0.005) -> bool:
    """Poll ``cond()`` every ``pause`` seconds until true (True) or the process ends (False)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(pause)
    proc.kill()
    raise AssertionError("training made no progress in time")


def writing(run: Path) -> bool:
    """A checkpoint write is under way: its temporary folder or file exists."""
    ckpts = run / "checkpoints"
    return any(ckpts.glob(".step_*")) or any(run.glob(".*.tmp"))


def leftovers(run: Path) -> list[str]:
    """Temporary files and folders a killed write left behind (the next save removes them)."""
    return [p.name for p in run.rglob(".*") if p.name.endswith(".tmp") or p.name.startswith(".step_")]


def check_consistent(run: Path) -> int:
    """Everything a later command reads is whole: the newest checkpoint, every kept one, metrics.csv."""
    weights, state, step = load_latest(run)
    assert state["step"] == step and weights
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    genlab.load(run)  # the weights a `genlab sample` would read
    for ckpt in (run / "checkpoints").glob("step_*"):
        w, s = load_weights(ckpt / "model.safetensors"), load_state(ckpt / "state.pt")
        assert w[1] == s["step"] == int(ckpt.name.split("_")[1])
    with open(run / "metrics.csv", newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == sorted(set(steps)), "metrics.csv rows out of order or repeated"
    return step


def kill_and_resume(tmp_path: Path, kills: int, steps: int) -> dict:
    run = tmp_path / "run"
    args = ["train", "gan", "--data", "ring8", "--out", run, "--steps", steps, "--quiet", *KILL_SETTINGS,
            "--set", "ckpt_every=1"]
    rng = random.Random()
    last, mid_write, done_kills, delays = 0, 0, 0, []
    while done_kills < kills:
        proc = start(args + (["--resume"] if last else []))
        # wait until this process is in its loop (it wrote a checkpoint of its own), then either a
        # random moment or (every other kill) the moment a write is seen under way
        alive = wait_for(lambda: newest_checkpoint(run) > last, proc)
        if done_kills % 2:
            delay = "in a write"
            alive = alive and wait_for(lambda: writing(run), proc, timeout=30, pause=0)
        else:
            delay = round(rng.uniform(0.0, 0.25), 3)
            time.sleep(delay)
        if not alive or proc.poll() is not None:
            out, err = proc.communicate()
            assert proc.returncode == 0, err
            break  # finished before the kill: nothing left to interrupt
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        done_kills += 1
        delays.append(delay)
        mid_write += bool(leftovers(run))
        step = check_consistent(run)
        assert step >= last, f"the newest checkpoint went back from {last} to {step}"
        last = step
    proc = start(args + ["--resume"])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert check_consistent(run) == steps
    assert not leftovers(run)
    with open(run / "metrics.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, steps + 1))
    # the same run, never interrupted (checkpoints do not change the weights); in a process like
    # the others, since the thread count changes how BatchNorm sums its batch statistics
    ref = tmp_path / "ref"
    proc = start(["train", "gan", "--data", "ring8", "--out", ref, "--steps", steps, "--quiet", *KILL_SETTINGS,
                  "--set", "ckpt_every=1000"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    a, b = load_file(str(run / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    stats = {"kills": done_kills, "killed_mid_write": mid_write, "delays": delays}
    print(f"kill test: {stats}")
    return stats


def _call(args) -> int:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return e.value.code


def test_sigkill_during_checkpoint_writes_then_resume(tmp_path):
    stats = kill_and_resume(tmp_path, kills=2, steps=30)
    assert stats["kills"] >= 1


@pytest.mark.slow
def test_sigkill_twenty_times(tmp_path):
    stats = kill_and_resume(tmp_path, kills=20, steps=150)
    assert stats["kills"] >= 15


@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_interrupt_saves_and_prints_the_resume_command(tmp_path, sig):
    run = tmp_path / "my run"  # a space: the printed command must quote it
    proc = start(["train", "gan", "--data", "ring8", "--out", run, "--steps", "3000", "--batch-size", "32",
                  "--set", "log_every=1", "--set", "hidden=32", "--set", "sample_every=0", "--quiet"])
    assert wait_for(lambda: (run / "metrics.csv").is_file() and (run / "metrics.csv").stat().st_size > 200, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err  # 130 SIGINT, 143 SIGTERM
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted at step "), err
    step = int(re.search(r"step (\d+)/3000", lines[0]).group(1))
    assert 0 < step < 3000
    assert load_latest(run)[2] == step
    command = lines[0].split("resume with: ", 1)[1]
    argv = shlex.split(command)
    assert argv[0] == "genlab" and argv[-1] == "--resume" and str(run) in argv
    argv[argv.index("--steps") + 1] = str(step + 20)  # finish soon
    r = subprocess.run([sys.executable, "-m", "genlab", *argv[1:]], cwd=ROOT, env=env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert load_latest(run)[2] == step + 20


# ----------------------------------------------------------------------------- divergence guard


def test_huge_learning_rate_stops_with_step_and_phase(tmp_path, capsys):
    run = tmp_path / "r"
    code = _call(["train", "vae", "--data", "ring8", "--out", run, "--steps", "50", "--lr", "1e3",
                  "--batch-size", "64", "--set", "ckpt_every=1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    m = re.match(r"error: (loss|gradient norm) is \S+ at step (\d+), phase 'model': training diverged; "
                 r"the last good checkpoint in .* is kept", err[0])
    assert m, err[0]
    bad_step = int(m.group(2))
    weights, state, step = load_latest(run)
    assert step == bad_step - 1 and state["step"] == step  # the step before the bad one
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_nan_policy_skip_gives_up_when_every_batch_is_bad(tmp_path, capsys):
    code = _call(["train", "vae", "--data", "ring8", "--out", tmp_path / "r", "--steps", "200", "--lr", "1e3",
                  "--batch-size", "64", "--set", "nan_policy=skip", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "updates were all skipped" in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def nan_at_g_calls(monkeypatch):
    """The GAN's generator loss is NaN on its 4th and 5th calls (steps 4 and 5)."""
    from genlab.models.gan import GAN

    original, calls = GAN.loss, {"g": 0}

    def loss(self, phase, batch):
        value, logs = original(self, phase, batch)
        if phase == "g":
            calls["g"] += 1
            if calls["g"] in (4, 5):
                value = value * float("nan")
        return value, logs

    monkeypatch.setattr(GAN, "loss", loss)
    return calls


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, nan_at_g_calls):
    from genlab.training.trainer import TrainingDiverged

    run = tmp_path / "r"
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 4, phase 'g'"):
        genlab.train("gan", "ring8", out=run, steps=10, batch_size=32, ckpt_every=3, overrides={"hidden": 32})
    weights, state, step = load_latest(run)
    assert step == 3 and all(torch.isfinite(v).all() for v in weights.values())


def test_nan_policy_skip_skips_the_bad_batches(tmp_path, nan_at_g_calls):
    run = tmp_path / "r"
    genlab.train("gan", "ring8", out=run, steps=10, batch_size=32, log_every=1, nan_policy="skip",
                 overrides={"hidden": 32})
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    skipped = {int(r["step"]): r["skipped"] for r in rows}
    assert skipped[3] == "" and skipped[4] == "1" and skipped[5] == "2" and skipped[10] == "2"
    assert load_latest(run)[2] == 10
    assert all(torch.isfinite(v).all() for v in load_file(str(run / "model.safetensors")).values())


def test_exploding_gradient_norm_stops(tmp_path, capsys):
    code = _call(["train", "gan", "--data", "ring8", "--out", tmp_path / "r", "--steps", "20", "--batch-size", "32",
                  "--set", "max_grad_norm=1e-9", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and re.match(r"error: gradient norm is [0-9.e+-]+ at step 1, phase 'd': training diverged", err), err


def test_resume_falls_back_to_a_checkpoint_when_the_top_state_is_damaged(tmp_path):
    run = tmp_path / "r"
    genlab.train("gan", "ring8", out=run, steps=6, batch_size=32, ckpt_every=2, overrides={"hidden": 32})
    (run / "state.pt").write_bytes(b"\x00garbage")
    genlab.train("gan", "ring8", out=run, steps=8, batch_size=32, resume=True, overrides={"hidden": 32})
    assert load_latest(run)[2] == 8


# ----------------------------------------------------------------------------- health signals


def _rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("model", ["gan", "lsgan", "wgan-gp"])
def test_gan_health_signals_land_in_metrics_csv(tmp_path, model):
    run = tmp_path / model
    genlab.train(model, "ring8", out=run, steps=20, batch_size=32, log_every=2, overrides={"hidden": 32})
    rows = _rows(run)
    assert [int(r["step"]) for r in rows] == list(range(2, 21, 2))
    for r in rows:
        for key in ("grad_norm_d", "grad_norm_g"):
            assert math.isfinite(float(r[key])) and float(r[key]) >= 0
        for key in ("d_acc_real", "d_acc_fake"):
            assert 0.0 <= float(r[key]) <= 1.0
    modes = [r["modes"] for r in rows if r["modes"] != ""]
    assert modes and all(0 <= int(m) <= 8 for m in modes)  # live mode count every 10 log rows


def test_autoencoder_health_signals(tmp_path):
    run = tmp_path / "vae"
    genlab.train("vae", "ring8", out=run, steps=6, batch_size=32, log_every=3, overrides={"hidden": 32})
    for r in _rows(run):
        assert float(r["grad_norm_model"]) > 0 and float(r["kl"]) >= 0 and r["recon"] != ""


# ----------------------------------------------------------------------------- TensorBoard


def test_tensorboard_logger_writes_scalars_and_figures(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for name, data, over in (("points", "ring8", {"hidden": 32}), ("images", "digits", {"width": 8, "latent_dim": 4})):
        run = tmp_path / name
        genlab.train("gan", data, out=run, steps=6, batch_size=16, log_every=2, sample_every=3, logger="tensorboard",
                     overrides=over)
        assert (run / "metrics.csv").is_file()  # CSV is always written
        acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
        tags = acc.Tags()
        assert {"loss/loss_d", "loss/loss_g", "health/grad_norm_d", "health/d_acc_real"} <= set(tags["scalars"])
        assert [e.step for e in acc.Scalars("loss/loss_d")] == [2, 4, 6]
        assert [e.step for e in acc.Images("samples")] == [3, 6]
        assert acc.Images("samples")[0].encoded_image_string[:4] == b"\x89PNG"


def test_missing_tensorboard_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if the extra were not installed
    out = tmp_path / "r"
    code = _call(["train", "gan", "--data", "ring8", "--out", out, "--steps", "3", "--logger", "tensorboard"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'genlab[tensorboard]'" in err[0]
    assert not out.exists()
