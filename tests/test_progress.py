"""Progress output: a live bar on a terminal, a line every 10% in logs, nothing with --quiet."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

import pytest

from genlab.cli import main

from conftest import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _train(out, *extra) -> list[str]:
    return ["train", "gan", "--data", "ring8", "--out", str(out), "--steps", "20", "--batch-size", "32",
            "--set", "hidden=16", *extra]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_terminal_gets_a_live_bar_with_rate_eta_and_losses(tmp_path):
    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "genlab", *_train(tmp_path / "r")], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:  # drain the terminal until the process closes it
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0
    raw = b"".join(chunks).decode("utf-8", "replace")
    text = ANSI.sub("", raw)
    assert "\x1b[" in raw  # drawn in place, with terminal control codes
    assert re.search(r"20/20", text), text[-2000:]
    assert re.search(r"\d+(\.\d+)? it/s", text) and "ETA" in text
    assert re.search(r"loss_d=\S+ loss_g=\S+", text)
    assert "step 2/20" not in text  # not the plain log lines
    assert b"run written to" in out  # results stay on stdout


def test_logs_get_a_plain_line_every_tenth(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(_train(tmp_path / "r"))
    assert e.value.code == 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "\x1b[" not in err
    assert [int(re.match(r"step (\d+)/20 ", line).group(1)) for line in lines] == list(range(2, 21, 2))
    assert all(re.search(r"\d+(\.\d+)? it/s .*loss_d=", line) for line in lines)


def test_quiet_prints_no_progress(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(_train(tmp_path / "r", "--quiet"))
    assert e.value.code == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.startswith("run written to")
