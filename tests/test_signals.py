"""Signals and waits, as a user meets them (a CLI subprocess): Ctrl-C wherever it lands is
exit 130 with one line; a data-parallel rendezvous that a machine never joins ends after
``rendezvous_timeout`` with one line naming how many processes joined, a signal ends the wait
at once, and neither leaves a run folder behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _live_ctrl_c() -> None:
    """In the child: Ctrl-C live, as in a terminal, even when the suite itself runs where the
    shell ignores it (a background job of a script), which the child would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "genlab", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or ENV, preexec_fn=_live_ctrl_c)


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_ctrl_c_before_training_is_exit_130(tmp_path):
    """A SIGINT while the command is still importing and loading is an interrupt, not a success."""
    for delay in (0.4, 1.0):
        p = _start("train", "vae", "--data", "mnist5k", "--steps", "400", "--out", tmp_path / f"x{delay}")
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        assert p.returncode == 130, err
        assert len(_error_lines(err)) == 1 and "Traceback" not in err, err
        assert not (tmp_path / f"x{delay}").exists() or (tmp_path / f"x{delay}" / "model.safetensors").exists()


def _lonely_node(tmp_path, *extra):
    env = {**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "NODE_RANK": "0"}
    return _start("train", "gan", "--data", "grid25", "--num-nodes", "2", "--steps", "5", "--out", tmp_path / "run",
                  *extra, env=env)


def test_a_machine_that_never_joins_ends_the_wait_with_one_line(tmp_path):
    p = _lonely_node(tmp_path, "--set", "rendezvous_timeout=3")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    (line,) = _error_lines(err)
    assert "1 of 2 processes joined" in line and "rendezvous_timeout" in line
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())  # no run folder, no lock file


def test_a_signal_ends_the_wait_at_once(tmp_path):
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        p = _lonely_node(tmp_path)  # the default limit: minutes
        deadline = time.monotonic() + 60
        while not (tmp_path / "run").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the run folder appears just before the processes meet
        time.sleep(1.0)
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        assert p.returncode == code, err
        (line,) = _error_lines(err)
        assert "waiting for the 2 processes" in line
        assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())
