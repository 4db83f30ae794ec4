"""What a new user runs into with 2-20 steps: run folders that survive failed starts and
replacements, paths that work from any folder, compare training what train trains, outputs that
never replace someone's file, and numbers shown as they are. Each case checks the exit code,
the one ``error:`` line and that no file of the user's changed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import genlab
from genlab.errors import BadInputError

from conftest import run_cli
from helpers import run_main as call
from helpers import snapshot as _snapshot


def one_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


TINY = ["--batch-size", "16", "--set", "hidden=16", "-q"]


def snapshot(root: Path) -> dict:
    return _snapshot(root, times=False)  # contents: a failed resume may rewrite a file with what it held


# ----------------------------------------------------------------------------- image sizes


@pytest.mark.parametrize(("model", "size", "hint"), [("gan", 33, "32 or 34"), ("gan", 9, "8 or 10"), ("vae", 6, "8")])
def test_image_sizes_the_networks_cannot_halve(tmp_path, capsys, model, size, hint):
    code = call("train", model, "--data", "digits", "--image-size", size, "--steps", "2", "--out", tmp_path / "r")
    err = one_error(capsys)
    assert code == 2 and "even size of 8 or more" in err and f"--image-size {hint}" in err
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------- sample --out


def test_sample_never_replaces_a_file_without_overwrite_nor_a_run_file(tmp_path, capsys, tiny_gan_run):
    run = Path(shutil.copytree(tiny_gan_run, tmp_path / "run"))
    before = snapshot(run)
    for target in (run / "metrics.csv", run / "samples" / "x.png", run / "checkpoints" / "a.npy"):
        assert call("sample", run, "--n", "5", "--out", target, "--overwrite") == 2
        assert "is part of the run" in one_error(capsys)
    assert snapshot(run) == before
    mine = tmp_path / "mine.npy"
    np.save(mine, np.arange(3))
    assert call("sample", run, "--n", "5", "--out", mine) == 2
    assert "already exists; pass --overwrite" in one_error(capsys)
    assert np.array_equal(np.load(mine), np.arange(3))
    assert call("sample", run, "--n", "5", "--out", mine, "--overwrite") == 0
    assert np.load(mine).shape == (5, 2)
    assert call("sample", run, "--n", "5", "--out", run / "extra.npy") == 0  # beside the run's files is fine


# ----------------------------------------------------------------------------- data paths


def test_relative_data_paths_are_stored_absolute(tmp_path, capsys, monkeypatch):
    from genlab.data import resolve_spec

    work, other = tmp_path / "work", tmp_path / "other"
    work.mkdir()
    other.mkdir()
    np.savetxt(work / "p.csv", np.random.default_rng(0).normal(size=(64, 2)), delimiter=",")
    monkeypatch.chdir(work)
    assert call("train", "gan", "--data", "points:p.csv", "--steps", "2", "--out", "r", *TINY) == 0
    saved = config(work / "r")
    assert saved["train"]["data"] == f"points:{work / 'p.csv'}" and saved["data_as_typed"] == "points:p.csv"
    monkeypatch.chdir(other)  # evaluated, resumed and sampled from another folder
    assert call("eval", work / "r", "--n", "50", "--metrics", "mmd") == 0
    assert call("train", "gan", "--data", "points:../work/p.csv", "--steps", "4", "--out", work / "r", "--resume",
                *TINY) == 0
    assert config(work / "r")["train"]["steps"] == 4
    (other / "a").mkdir()
    assert resolve_spec("folder:a") == f"folder:{other / 'a'}"
    assert resolve_spec("unpaired:a,../work") == f"unpaired:{other / 'a'},{work}"
    assert resolve_spec("grid25") == "grid25"


# ----------------------------------------------------------------------------- --overwrite


def test_overwrite_removes_the_whole_old_run_and_says_so(tmp_path, capsys):
    run = tmp_path / "g"
    assert call("train", "gan", "--data", "ring8", "--steps", "2", "--out", run, *TINY) == 0
    assert call("eval", run, "--n", "100") == 0
    assert (run / "eval.json").is_file()
    capsys.readouterr()
    assert call("train", "lsgan", "--data", "grid25", "--steps", "2", "--out", run, "--overwrite", *TINY) == 0
    err = capsys.readouterr().err
    assert "removed the old run" in err and "eval.json" in err and "model.safetensors" in err
    assert not (run / "eval.json").exists() and config(run)["model"] == "lsgan"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing set aside is left


def test_a_failed_overwrite_keeps_the_old_run(tmp_path, capsys):
    run = tmp_path / "g"
    assert call("train", "gan", "--data", "ring8", "--steps", "2", "--out", run, *TINY) == 0
    before = snapshot(run)
    capsys.readouterr()
    # diverges at step 1, before the new run writes a checkpoint
    assert call("train", "gan", "--data", "ring8", "--steps", "2", "--out", run, "--overwrite",
                "--set", "max_grad_norm=1e-9", *TINY) == 2
    assert "training diverged" in one_error(capsys)
    assert snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]


# ----------------------------------------------------------------------------- failed starts


def test_a_failed_start_leaves_nothing_behind(tmp_path, capsys):
    run, empty = tmp_path / "x", tmp_path / "empty"
    empty.mkdir()
    for out in (run, empty):
        assert call("train", "gan", "--data", "ring8", "--steps", "2", "--out", out,
                    "--set", "max_grad_norm=1e-9", *TINY) == 2
        assert "training diverged" in one_error(capsys)
    assert not run.exists() and empty.is_dir() and not any(empty.iterdir())
    assert call("train", "gan", "--data", "ring8", "--steps", "2", "--out", run, *TINY) == 0  # the retry works


def test_an_unavailable_accelerator_leaves_nothing_behind(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: cuda is available here")
    assert call("train", "gan", "--data", "ring8", "--steps", "2", "--accelerator", "cuda", "--out",
                tmp_path / "x", *TINY) == 2
    assert "accelerator='cuda'" in one_error(capsys)
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- compare = train


def test_compare_trains_exactly_what_train_trains(tmp_path, capsys):
    """The 2-D presets (batch 256, WGAN-GP's gp_weight and beta1) apply to both, and the
    benchmark scripts' resolution (comparison.resolved_config) gives the same configuration."""
    from genlab.comparison import parse_entry, resolved_config

    assert call("train", "wgan-gp", "--data", "grid25", "--steps", "2", "--set", "hidden=16", "--out",
                tmp_path / "t", "-q") == 0
    assert call("compare", "wgan-gp", "--data", "grid25", "--seeds", "1", "--steps", "2", "--set", "hidden=16",
                "--n", "100", "--metrics", "modes", "--out", tmp_path / "c") == 0
    trained, compared = config(tmp_path / "t"), config(tmp_path / "c" / "runs" / "wgan-gp" / "seed0")
    assert trained["train"] == compared["train"] and trained["data_info"] == compared["data_info"]
    assert trained["train"]["batch_size"] == 256 and trained["train"]["model_args"]["game"]["gp_weight"] == 0.1
    cfg = resolved_config(parse_entry("wgan-gp"), "grid25", 0, 2, None, {"hidden": 16})
    assert dataclasses.asdict(cfg) == trained["train"]
    # started again: the saved runs match the plan, so they are reused, not refused
    assert call("compare", "wgan-gp", "--data", "grid25", "--seeds", "1", "--steps", "2", "--set", "hidden=16",
                "--n", "100", "--metrics", "modes", "--out", tmp_path / "c") == 0
    assert "reused" in capsys.readouterr().err


# ----------------------------------------------------------------------------- resume


def test_resume_records_the_new_target(tmp_path, capsys):
    run = tmp_path / "r"
    flat = ("--set", "lr_decay=0")  # no schedule tied to the total steps (resuming one prints a note)
    assert call("train", "gan", "--data", "ring8", "--steps", "2", "--out", run, *flat, *TINY) == 0
    assert call("train", "gan", "--data", "ring8", "--steps", "4", "--out", run, "--resume", *flat, *TINY) == 0
    assert config(run)["train"]["steps"] == 4
    before = snapshot(run)
    capsys.readouterr()
    # a resume that fails before its next checkpoint leaves the config as it was
    assert call("train", "gan", "--data", "ring8", "--steps", "6", "--out", run, "--resume",
                "--set", "max_grad_norm=1e-9", *flat, *TINY) == 2
    assert "training diverged" in one_error(capsys)
    assert snapshot(run) == before


# ----------------------------------------------------------------------------- demo


def test_demo_replaces_only_what_an_earlier_demo_wrote(tmp_path):
    from genlab.demo import TITLE, check_out
    from genlab.report.html import GENERATOR_MARK

    out = tmp_path / "d"
    out.mkdir()
    (out / "grid25_gan.png").write_bytes(b"mine")
    with pytest.raises(BadInputError, match="grid25_gan.png"):
        check_out(out)
    check_out(out, overwrite=True)
    (out / "summary.md").write_text(f"{TITLE}\n\nearlier\n")  # an earlier demo's folder
    (out / "report.html").write_text(f"<html><head>{GENERATOR_MARK} 0.1\"></head></html>")
    check_out(out)
    (out / "report.html").write_text("<p>mine</p>")
    with pytest.raises(BadInputError, match="report.html"):
        check_out(out)


# ----------------------------------------------------------------------------- display


def test_values_are_shown_without_long_integers_or_minus_zero():
    import torch

    from genlab.evaluation import format_value
    from genlab.metrics.images import class_scores

    assert format_value(1.25e60) == "1.25e+60" and format_value(-3e9) == "-3e+09"
    assert format_value(12345.678) == "12345.7" and format_value(0.123456) == "0.1235"
    assert format_value(-0.0) == "0"
    entropy = class_scores(torch.zeros(20, dtype=torch.long), 10)["entropy"]
    assert entropy == 0.0 and math.copysign(1.0, entropy) == 1.0


@pytest.fixture(scope="module")
def tiny_cvae(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cvae"
    genlab.train("cvae", "digits", out=out, steps=2, batch_size=16, sample_every=0,
                 overrides={"width": 8, "latent_dim": 4})
    return out


def test_conditional_scores_use_exactly_n_samples(tiny_cvae, capsys):
    from genlab.evaluation import evaluate

    scores = {s.metric: s for s in evaluate(tiny_cvae, metrics="class_accuracy,intra_fd", n=25)}
    assert scores["class_accuracy"].n_fake == 25 and scores["intra_fd"].n_fake == 25
    assert call("eval", tiny_cvae, "--metrics", "class_accuracy", "--n", "5") == 2
    assert "--n 20 or more for 10 classes" in one_error(capsys)


def test_interpolate_grid_names_no_seeds(tmp_path, capsys):
    run = tmp_path / "vae2"
    genlab.train("vae", "digits", out=run, steps=2, batch_size=16, sample_every=0,
                 overrides={"width": 8, "latent_dim": 2})
    assert call("interpolate", run, "--out", tmp_path / "m.png", "--steps", "3") == 0
    out = capsys.readouterr().out
    assert "seeds" not in out and "manifold" in out
    assert call("interpolate", run, "--out", tmp_path / "s.png", "--steps", "3", "--seeds", "4,5") == 0
    assert "seeds 4,5" in capsys.readouterr().out  # seeds asked for: the strip between them


def test_a_run_that_skipped_most_updates_ends_with_the_divergence_error(tmp_path):
    """nan_policy=skip keeps NaNs out of the weights, but a run that skipped most of its
    updates did not train: it says how many, exits 2 and leaves no run claiming success."""
    out = tmp_path / "r"
    r = run_cli("train", "vae", "--data", "ring8", "--lr", "1e3", "--steps", "50", "--set", "nan_policy=skip",
                "--out", out, "--quiet")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "skipped 49 of 50 updates" in lines[0] and "diverged" in lines[0], r.stderr
    assert "run written" not in r.stdout
    assert not (out / "model.safetensors").exists()


def test_metrics_header_names_each_column_once(tmp_path):
    from genlab.report.loggers import CsvLogger

    log = CsvLogger(tmp_path / "metrics.csv", 0, extra=("modes", "skipped"))
    log.scalars(10, {"step": 10, "recon": 1.0, "skipped": 3})
    log.close()
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == "step,recon,skipped,modes"
