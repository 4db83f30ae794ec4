"""One process per run folder: the advisory lock, two real `genlab train` processes racing for one
--out (new runs and resumes), and a lock left by a killed process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import genlab
from genlab.errors import BadInputError
from genlab.lock import FileLock, run_lock, run_lock_path
from genlab.training.checkpoint import load_latest

from conftest import ROOT

# a 2-D GAN that would train for minutes: the winner is still training when it is stopped
LONG = ["gan", "--data", "ring8", "--steps", "200000", "--batch-size", "32", "--set", "hidden=16",
        "--set", "sample_every=0", "--set", "log_every=1", "--quiet"]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "genlab", *map(str, args)], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(cond, timeout: float = 120.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_file_lock_is_exclusive_names_its_holder_and_leaves_no_file(tmp_path):
    path = tmp_path / "x.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.acquire()
    assert not second.acquire()  # flock is per open file: a second open in this process is refused too
    assert second.holder() == f"process {os.getpid()}"
    first.release()
    assert not path.exists()
    assert second.acquire()
    second.release()


def test_run_lock_refuses_a_second_holder_and_removes_folders_it_made(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with run_lock(out):
        assert run_lock_path(out) == tmp_path / "a" / "b" / ".run.lock"
        with pytest.raises(BadInputError, match=rf"is in use by process {os.getpid()} .*choose another --out"):
            with run_lock(out):
                pass
    assert not (tmp_path / "a").exists()  # made only to hold the lock file, empty again
    with run_lock(tmp_path / "c" / ".." / "run"):  # the same folder named another way: the same lock
        with pytest.raises(BadInputError, match="in use"):
            with run_lock(tmp_path / "run"):
                pass


def test_run_lock_in_an_unwritable_place_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInputError, match="must be writable") as info:
        with run_lock(tmp_path / "file" / "run"):
            pass
    assert "\n" not in str(info.value)


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    out = tmp_path / "run"
    code = ("import os, signal, sys; from genlab.lock import FileLock, run_lock_path; from pathlib import Path; "
            "assert FileLock(run_lock_path(Path(sys.argv[1]))).acquire(); os.kill(os.getpid(), signal.SIGKILL)")
    r = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, env=_env(), timeout=120)
    assert r.returncode == -signal.SIGKILL
    pid = int(run_lock_path(out).read_text())  # the lock file stays behind, naming a dead process
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    genlab.train("gan", "ring8", out=out, steps=2, batch_size=32, overrides={"hidden": 8}, sample_every=0)
    assert load_latest(out)[2] == 2 and not run_lock_path(out).exists()


def _race(*args) -> tuple[subprocess.Popen, subprocess.Popen]:
    """Start two identical `genlab train` commands together; returns (winner, loser) once the
    loser has ended, after checking its one-line error names the winner's PID."""
    a, b = _start("train", *args), _start("train", *args)
    assert _wait(lambda: a.poll() is not None or b.poll() is not None), "neither process ended"
    loser, winner = (a, b) if a.poll() is not None else (b, a)
    err = loser.communicate(timeout=60)[1]
    lines = [line for line in err.splitlines() if line.strip()]
    assert loser.returncode == 2 and len(lines) == 1, err
    assert re.fullmatch(rf"error: run folder '.*' is in use by process {winner.pid} .*", lines[0]), lines[0]
    assert winner.poll() is None, "the winner should still be training"
    return winner, loser


def _csv_size(out) -> int:
    return (out / "metrics.csv").stat().st_size if (out / "metrics.csv").is_file() else 0


def _stop(winner: subprocess.Popen, out, before: int = 0) -> int:
    """Let the winner log a few steps, then SIGTERM it: it saves a checkpoint and exits 143."""
    assert _wait(lambda: _csv_size(out) > before + 200)
    winner.send_signal(signal.SIGTERM)
    err = winner.communicate(timeout=120)[1]
    assert winner.returncode == 143, err
    return load_latest(out)[2]


def test_two_new_runs_on_one_folder_one_trains(tmp_path):
    out = tmp_path / "run"
    winner, _ = _race(*LONG, "--out", out)
    assert _stop(winner, out) > 0
    assert not run_lock_path(out).exists()


def test_two_resumes_of_one_run_one_trains(tmp_path):
    out = tmp_path / "run"
    genlab.train("gan", "ring8", out=out, steps=2, batch_size=32, overrides={"hidden": 16}, sample_every=0,
                 log_every=1)
    before = _csv_size(out)
    winner, _ = _race(*LONG, "--out", out, "--resume")
    assert _stop(winner, out, before) > 2
