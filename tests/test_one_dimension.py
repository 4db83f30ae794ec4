"""One-column points data trains, plots and reads back the way 2-D data does (a histogram where
2-D data gets a scatter), through the command line as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from PIL import Image

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def genlab(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genlab", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=300)


def test_one_column_points_train_sample_evaluate_and_report(tmp_path):
    data = tmp_path / "onecol.csv"
    data.write_text("".join(f"{v}\n" for v in (1, 2, 3, 4, 5, 6, 7, 8)))
    run = tmp_path / "run"
    r = genlab("train", "gan", "--data", f"points:{data}", "--steps", "30", "--batch-size", "4", "--out", run, "-q")
    assert r.returncode == 0 and "run written" in r.stdout, r.stderr
    assert (run / "model.safetensors").is_file() and list((run / "samples").glob("*.png"))
    for out in ("s.png", "s.csv"):
        r = genlab("sample", run, "--n", "100", "--out", tmp_path / out)
        assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "s.png").size[0] > 100
    assert len((tmp_path / "s.csv").read_text().split()) == 100
    for args in (("eval", run, "--n", "200"), ("report", run, "--out", tmp_path / "r.html"),
                 ("interpolate", run, "--out", tmp_path / "i.png")):
        r = genlab(*args)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
