"""What a command falls back on is said, never silent (the CLI as a user runs it): scores of a
run without top-level weights name the checkpoint's step, a run still training is named as
such, a resume from an older checkpoint says which, and a resumed run whose folder data changed
its classes is refused in one line. Library calls take Python values, not strings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import genlab
from genlab.errors import BadInputError
from helpers import write_images

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def genlab_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genlab", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=300)


@pytest.fixture
def run(tmp_path):
    out = tmp_path / "run"
    genlab.train("gan", "ring8", out=out, steps=20, batch_size=32, quiet=True, ckpt_every=10)
    return out


def test_eval_of_a_run_without_top_level_weights_names_the_checkpoint(run):
    (run / "model.safetensors").unlink()
    r = genlab_cli("eval", run, "--metrics", "modes", "--n", "100")
    assert r.returncode == 0, r.stderr
    assert "step_000000020" in r.stderr and "(step 20)" in r.stderr  # the note
    assert "(step 20)" in r.stdout and "step None" not in r.stdout  # the table's title


def test_resume_from_an_older_checkpoint_says_which(run):
    (run / "model.safetensors").write_bytes(b"damaged")
    shutil.rmtree(run / "checkpoints" / "step_000000020")
    r = genlab_cli("train", "gan", "--data", "ring8", "--steps", "30", "--batch-size", "32", "--out", run, "--resume",
                   "-q")
    assert r.returncode == 0, r.stderr
    assert "note:" in r.stderr and "(step 10)" in r.stderr


def test_eval_while_training_names_the_trainer(tmp_path):
    import time

    out = tmp_path / "busy"
    p = subprocess.Popen([sys.executable, "-m", "genlab", "train", "gan", "--data", "ring8", "--steps", "100000",
                          "--out", out, "-q", "--set", "ckpt_every=100000"], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        r = genlab_cli("eval", out, "--n", "100")
        assert r.returncode == 2, r.stderr
        assert f"being trained by process {p.pid}" in r.stderr, r.stderr
    finally:
        p.kill()
        p.wait()


def test_resume_on_a_folder_that_gained_a_class_is_refused(tmp_path):
    imgs = tmp_path / "imgs"
    for c in ("cats", "dogs"):
        write_images(imgs / c, 4, seed=len(c))
    out = tmp_path / "cg"
    args = ("train", "cgan", "--data", f"folder:{imgs}", "--image-size", "8", "--batch-size", "4",
            "--cache-dir", tmp_path / "cache", "--out", out, "-q")
    assert genlab_cli(*args, "--steps", "2").returncode == 0
    write_images(imgs / "owls", 4, seed=9)
    r = genlab_cli(*args, "--steps", "4", "--resume")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "owls" in r.stderr and "cannot resume" in r.stderr


def test_library_calls_check_their_values(tmp_path, run):
    with pytest.raises(BadInputError, match="list of names"):
        genlab.compare("gan", data="ring8", out=tmp_path / "c")
    with pytest.raises(BadInputError, match="device 'cuda:7'"):
        genlab.load(run, device="cuda:7")


def test_library_calls_leave_the_callers_random_stream_alone(tmp_path, run):
    """train, evaluate, draw and interpolate seed their own draws; the caller's torch stream is
    exactly where it was (genlab.evaluate inside a user's script changes nothing of theirs)."""
    import torch

    from genlab.interpolate import interpolate
    from genlab.sampling import draw

    torch.manual_seed(123)
    state = torch.get_rng_state()
    genlab.train("gan", "ring8", out=tmp_path / "t", steps=3, batch_size=16, quiet=True)
    genlab.evaluate(run, metrics="mmd", n=100)
    draw(genlab.load(run).model, 50, seed=4)
    draw(genlab.load(run).model, 50, seed=4, refine="drs")
    interpolate(run, tmp_path / "i.png", steps=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_model_is_the_same_object_after_fit_also_after_an_exception(tmp_path):
    """What the trainer sets on the model for its loop (noise slice, device pin, logging) is undone."""
    from genlab.training.callbacks import Callback

    class Boom(Callback):
        def on_step(self, trainer, step, logs):
            if step == 3:
                trainer.model.noise_world = 7  # as a data-parallel loop would have it
                raise RuntimeError("boom")

    from genlab.configure import resolve_config
    from genlab.data import load_data
    from genlab.models import build_model, data_info
    from genlab.training.trainer import Trainer

    cfg = resolve_config("gan", "ring8", {"steps": 5, "batch_size": 16, "log_every": 2})
    data = load_data("ring8")
    model = build_model("gan", cfg.model_args, data_info(data))
    with pytest.raises(RuntimeError, match="boom"):
        Trainer(model, data, cfg, tmp_path / "r", quiet=True, callbacks=[Boom()]).fit()
    assert (model.noise_rank, model.noise_world, model.train_device, model.log_details) == (0, 1, None, True)


def test_prdc_on_a_tiny_reference_says_why_it_is_nan(tmp_path, capsys):
    from helpers import run_main

    data = tmp_path / "four.csv"
    data.write_text("1,1\n2,2\n3,3\n4,4\n")
    genlab.train("gan", f"points:{data}", out=tmp_path / "r", steps=3, batch_size=2, quiet=True)
    capsys.readouterr()
    assert run_main("eval", tmp_path / "r", "--metrics", "precision,coverage", "--n", "50") == 0
    out = capsys.readouterr().out
    assert "note: precision is nan: k-nearest-neighbour balls need more than k=5 points" in out
    assert "the reference has 4" in out and "note: coverage is nan" in out


def test_metrics_time_goes_on_after_a_resume(tmp_path):
    import csv

    out = tmp_path / "r"
    genlab.train("gan", "ring8", out=out, steps=20, batch_size=16, quiet=True, log_every=10, ckpt_every=10,
                 overrides={"lr_decay": 0})
    first = [float(r["time"]) for r in csv.DictReader(open(out / "metrics.csv"))]
    genlab.train("gan", "ring8", out=out, steps=40, batch_size=16, quiet=True, log_every=10, ckpt_every=10,
                 overrides={"lr_decay": 0}, resume=True)
    times = [float(r["time"]) for r in csv.DictReader(open(out / "metrics.csv"))]
    assert times[:2] == first and times[2] > first[-1] and times == sorted(times), times


def test_grids_name_their_rows_and_columns(tmp_path):
    """cgan's class rows carry the class names, CycleGAN's columns what each shows: a white
    margin with dark text beside (or above) the same images."""
    import numpy as np
    import torch
    from PIL import Image

    from genlab.models import MODELS, DataInfo
    from genlab.report.figures import save_grid

    x = torch.rand(12, 1, 8, 8) * 2 - 1
    save_grid(x, tmp_path / "plain.png", nrow=4)
    save_grid(x, tmp_path / "rows.png", nrow=4, row_labels=["zero", "one", "two"])
    save_grid(x, tmp_path / "cols.png", nrow=4, col_labels=["A", "A->B", "A->B->A", "B"])
    plain, rows, cols = (np.asarray(Image.open(tmp_path / f"{n}.png").convert("L")) for n in ("plain", "rows", "cols"))
    assert rows.shape[1] > 3 * plain.shape[1] and (rows[:, :10] < 128).any()  # enlarged, text at the left
    assert cols.shape[0] > plain.shape[0] and (cols[:10] < 128).any()  # text above
    cgan = MODELS["cgan"](MODELS["cgan"].Config(width=8), DataInfo("image", (1, 8, 8), num_classes=3))
    assert cgan.preview_legend(["cat", "dog", "owl"]) == (["cat", "dog", "owl"], None)
    cyc = MODELS["cyclegan"](MODELS["cyclegan"].Config(width=4, blocks=1), DataInfo("unpaired", (3, 16, 16)))
    assert cyc.preview_legend([])[1][:2] == ["A", "A->B"]
