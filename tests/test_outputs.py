"""The one output rule, used the way a user meets it (a CLI subprocess per command): never a
run's own file or a data file in use, an existing file only with --overwrite, a folder or an
unwritable place refused; every refusal one `error:` line, exit 2, files unchanged (hashes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import snapshot

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def genlab(*args, cwd=None, env=None, timeout=240, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genlab", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env or ENV, timeout=timeout, preexec_fn=preexec_fn)


def refused(r: subprocess.CompletedProcess, *words: str) -> None:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A 2-D run trained on the user's own points file, a folder of images beside it."""
    root = tmp_path_factory.mktemp("lab")
    rng = np.random.default_rng(0)
    np.save(root / "mydata.npy", rng.normal(size=(200, 2)).astype("float32"))
    r = genlab("train", "gan", "--data", f"points:{root / 'mydata.npy'}", "--steps", "20", "--batch-size", "32",
               "--out", root / "run", "-q", cwd=root)
    assert r.returncode == 0, r.stderr
    (root / "keep.npy").write_bytes(b"precious")
    return root


def test_writers_never_touch_a_runs_own_files_or_an_existing_file(lab):
    before = snapshot(lab)
    run = lab / "run"
    cases = [
        (("eval", run, "--json", run / "config.json", "--n", "50"), ("part of the run",)),
        (("eval", run, "--json", run / "metrics.csv", "--n", "50"), ("part of the run",)),
        (("eval", run, "--json", run / "state.pt", "--n", "50"), ("part of the run",)),
        (("eval", run, "--json", run / "eval.json", "--n", "50"), ("part of the run",)),
        (("eval", run, "--json", lab / "keep.npy", "--n", "50"), ("already exists", "--overwrite")),
        (("eval", run, "--json", lab / "mydata.npy", "--n", "50"), ("data",)),
        (("eval", run, "--json", lab, "--n", "50"), ("is a folder",)),
        (("interpolate", run, "--out", run / "samples" / "step_0000020.png"), ("part of the run",)),
        (("sample", run, "--out", lab / "mydata.npy", "--overwrite"), ("data",)),
        (("report", run, "--out", run / "samples" / "r.html"), ("part of the run",)),
    ]
    for args, words in cases:
        refused(genlab(*args), *words)
    assert snapshot(lab) == before  # hashes and times of every file, run included
    r = genlab("interpolate", run, "--out", lab / "keep.npy")
    refused(r, "--out")  # a .npy is not a strip; either way the file stays
    (lab / "strip.png").write_bytes(b"mine")
    refused(genlab("interpolate", run, "--out", lab / "strip.png"), "already exists", "--overwrite")
    assert (lab / "strip.png").read_bytes() == b"mine"
    assert genlab("interpolate", run, "--out", lab / "strip.png", "--overwrite").returncode == 0
    assert (lab / "strip.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_json_is_the_runs_own_document(lab, tmp_path):
    out = tmp_path / "scores.json"
    r = genlab("eval", lab / "run", "--metrics", "mmd", "--n", "100", "--json", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text()) == json.loads((lab / "run" / "eval.json").read_text())


def test_overwrite_removes_only_what_a_run_wrote(tmp_path):
    data = tmp_path / "ov" / "mydata.npy"
    data.parent.mkdir()
    np.save(data, np.random.default_rng(0).normal(size=(100, 2)).astype("float32"))
    r = genlab("train", "gan", "--data", f"points:{data}", "--steps", "5", "--batch-size", "32",
               "--out", tmp_path / "ov", "-q")
    refused(r, "holds the data")  # a new run cannot be made around its own data either
    # a run that later gained a user's file: --overwrite refuses rather than deleting it
    run = tmp_path / "run"
    assert genlab("train", "gan", "--data", "ring8", "--steps", "5", "--batch-size", "32", "--out", run,
                  "-q").returncode == 0
    shutil.copy(data, run / "mydata.npy")
    before = snapshot(tmp_path)
    r = genlab("train", "gan", "--data", f"points:{run / 'mydata.npy'}", "--steps", "5", "--batch-size", "32",
               "--out", run, "--overwrite", "-q")
    refused(r, "mydata.npy")
    r = genlab("train", "gan", "--data", "ring8", "--steps", "5", "--batch-size", "32", "--out", run, "--overwrite",
               "-q")
    refused(r, "replaces only what a run wrote", "mydata.npy")
    assert snapshot(tmp_path) == before


def test_out_inside_the_data_folder_is_refused(tmp_path):
    from helpers import write_images

    imgs = write_images(tmp_path / "imgs", 4)
    before = snapshot(tmp_path)
    r = genlab("train", "vae", "--data", f"folder:{imgs}", "--image-size", "8", "--steps", "2", "--batch-size", "4",
               "--out", imgs / "run", "-q", "--cache-dir", tmp_path / "cache")
    refused(r, "inside the data folder")
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unwritable_places_are_one_line(lab, tmp_path):
    """A folder without write permission; as root, which permissions do not stop, /sys (where
    every create fails with EACCES although os.access says yes: the write itself is refused)."""
    run = lab / "run"
    if os.geteuid() == 0:
        locked = Path("/sys")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
    before = set(os.listdir(locked))
    for args in (("sample", run, "--out", locked / "genlab_s.png"),
                 ("eval", run, "--metrics", "mmd", "--n", "50", "--json", locked / "genlab_e.json"),
                 ("interpolate", run, "--out", locked / "genlab_i.png"),
                 ("report", run, "--out", locked / "genlab_r.html", "--no-interpolation")):
        refused(genlab(*args), "cannot be written")
    assert set(os.listdir(locked)) == before


def test_settings_that_would_not_apply_or_disagree_are_refused(tmp_path):
    for args, words in ((("--set", "augment=cutout"), ("augment",)),
                        (("--set", "a=-1"), ("lsgan",)),
                        (("--set", "gp_weight=1"), ("wgan-gp",)),
                        (("--steps", "20", "--set", "steps=30"), ("steps", "twice"))):
        r = genlab("train", "gan", "--data", "ring8", "--out", tmp_path / "r", "-q", *args)
        refused(r, *words)
    assert not (tmp_path / "r").exists()
    r = genlab("train", "lsgan", "--data", "ring8", "--out", tmp_path / "r", "-q", "--steps", "3", "--set", "a=-1",
               "--set", "c=0")
    assert r.returncode == 0, r.stderr


def test_recipes_are_listed_and_the_help_says_the_recipe_decides():
    r = genlab("models", "--recipes")
    assert r.returncode == 0
    assert "on mnist5k:" in r.stdout and "ema=True" in r.stdout and "steps=12000" in r.stdout
    assert "recipe" in genlab("train", "--help").stdout


def test_a_run_inside_a_data_folder_is_never_read_as_data(tmp_path):
    """A folder of images that holds a genlab run (its samples/ would become a class of PNGs) is
    refused before anything is written; the user's files stay as they were."""
    from helpers import write_images

    imgs = write_images(tmp_path / "imgs" / "cats", 4).parent
    write_images(imgs / "dogs", 4, seed=1)
    run = imgs / "oldrun"
    assert genlab("train", "vae", "--data", "digits", "--steps", "2", "--batch-size", "8", "--out", run,
                  "-q").returncode == 0
    before = snapshot(tmp_path)
    r = genlab("train", "cgan", "--data", f"folder:{imgs}", "--image-size", "8", "--steps", "2", "--batch-size", "4",
               "--out", tmp_path / "new", "-q", "--cache-dir", tmp_path / "cache")
    refused(r, "holds the genlab run", "oldrun")
    assert snapshot(tmp_path) == before
