"""Every CLI command on tiny data, plus the one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from genlab.cli import main
from helpers import run_main as call


def test_help_does_not_import_torch():
    code = ("import sys; from genlab.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert 'torch' not in sys.modules, 'torch imported by --help'\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
    for cmd in ("train", "sample"):
        r = subprocess.run([sys.executable, "-m", "genlab", cmd, "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "--out" in r.stdout


def test_models_and_datasets_list_names(capsys):
    assert call("models") == 0
    out = capsys.readouterr().out
    for name in ("ae", "vae", "gan", "lsgan", "wgan-gp"):
        assert any(line.split()[0] == name for line in out.splitlines())
    assert call("datasets") == 0
    out = capsys.readouterr().out
    for name in ("ring8", "grid25", "swissroll", "digits", "mnist5k", "shapes", "points:PATH", "folder:PATH"):
        assert name in out


def test_train_and_sample_every_format(tmp_path, capsys):
    run = tmp_path / "r"
    assert call("train", "gan", "--data", "ring8", "--steps", "5", "--batch-size", "16", "--out", run, "--quiet") == 0
    assert (run / "model.safetensors").is_file()
    assert call("sample", run, "--n", "50", "--out", tmp_path / "s.npy") == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (50, 2) and np.isfinite(x).all()
    assert call("sample", run, "--n", "20", "--out", tmp_path / "s.csv", "--seed", "1") == 0
    assert np.loadtxt(tmp_path / "s.csv", delimiter=",").shape == (20, 2)
    assert call("sample", run, "--n", "100", "--out", tmp_path / "s.png") == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    # same seed, same samples
    assert call("sample", run, "--n", "50", "--out", tmp_path / "t.npy") == 0
    assert np.array_equal(np.load(tmp_path / "t.npy"), x)


def test_train_images_with_config_and_set(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 3\nbatch_size: 8\nwidth: 8\nlatent_dim: 4\n")
    run = tmp_path / "v"
    assert call("train", "vae", "--data", "digits", "--config", cfg, "--set", "beta=0.5", "--out", run, "-q") == 0
    import json

    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["steps"] == 3 and saved["train"]["model_args"]["beta"] == 0.5
    assert saved["train"]["model_args"]["width"] == 8
    assert call("sample", run, "--n", "16", "--out", tmp_path / "g.png") == 0
    assert call("sample", run, "--n", "4", "--out", tmp_path / "g.npy") == 0
    assert np.load(tmp_path / "g.npy").shape == (4, 1, 8, 8)


def test_resume_through_the_cli(tmp_path):
    run = tmp_path / "r"
    assert call("train", "lsgan", "--data", "ring8", "--steps", "4", "--batch-size", "16", "--out", run, "-q") == 0
    assert call("train", "lsgan", "--data", "ring8", "--steps", "8", "--batch-size", "16", "--out", run, "--resume", "-q") == 0
    import torch

    assert torch.load(run / "state.pt", weights_only=True)["step"] == 8


def test_demo_quick(tmp_path, capsys):
    assert call("demo", "--out", tmp_path / "demo", "--quick") == 0
    summary = tmp_path / "demo" / "summary.md"
    text = summary.read_text()
    assert "grid25" in text and "mnist5k" in text and "wgan-gp" in text
    assert len(list((tmp_path / "demo").glob("*.png"))) >= 10
    assert str(summary) in capsys.readouterr().out


@pytest.mark.parametrize(("args", "expect"), [
    (["train", "nope", "--data", "grid25", "--out", "X"], "unknown model 'nope'; valid: ae"),
    (["train", "gan", "--data", "nope", "--out", "X"], "unknown dataset 'nope'; valid:"),
    (["train", "gan", "--data", "grid25", "--steps", "0", "--out", "X"], "steps must be a positive integer"),
    (["train", "gan", "--data", "grid25", "--steps", "-3", "--out", "X"], "steps must be a positive integer"),
    (["train", "gan", "--data", "grid25", "--set", "bogus=1", "--out", "X"], "unknown option 'bogus'"),
    (["train", "gan", "--data", "grid25", "--set", "loss=wrong", "--out", "X"], "valid: nonsaturating, minimax"),
    (["train", "gan", "--data", "grid25", "--set", "lr=fast", "--out", "X"], "lr='fast' is not a valid float"),
    (["train", "gan", "--data", "points:missing.csv", "--out", "X"], "missing.csv"),
    (["train", "gan", "--data", "folder:nowhere/", "--out", "X"], "nowhere"),
    (["train", "gan", "--data", "grid25", "--bogus", "--out", "X"], "No such option"),
    (["sample", "not-a-run", "--n", "4", "--out", "s.png"], "does not exist"),
    (["sample", ".", "--n", "4", "--out", "s.png"], "is not a genlab run"),
    (["sample", ".", "--n", "0", "--out", "s.png"], "--n must be a positive integer"),
    (["sample", ".", "--n", "4", "--out", "s.jpg"], "--out must end in .png, .npy, .csv"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, expect):
    monkeypatch.chdir(tmp_path)
    assert call(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and expect in err
    assert not (tmp_path / "X").exists()


def test_points_of_the_wrong_shape(tmp_path, capsys):
    bad = tmp_path / "p.npy"
    np.save(bad, np.zeros((4, 2, 2)))
    assert call("train", "gan", "--data", f"points:{bad}", "--out", tmp_path / "X") == 2
    assert "(N, D)" in capsys.readouterr().err


def test_user_points_and_folder_data(tmp_path):
    pts = tmp_path / "p.csv"
    rng = np.random.default_rng(0)
    np.savetxt(pts, rng.normal(size=(300, 3)), delimiter=",", header="a,b,c", comments="")
    assert call("train", "wgan-gp", "--data", f"points:{pts}", "--steps", "3", "--batch-size", "32",
                "--out", tmp_path / "p", "-q") == 0
    assert call("sample", tmp_path / "p", "--n", "10", "--out", tmp_path / "p.npy") == 0
    assert np.load(tmp_path / "p.npy").shape == (10, 3)
    from PIL import Image

    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    for i in range(12):
        arr = (rng.random((20 + i, 24, 3)) * 255).astype("uint8")
        Image.fromarray(arr).save(img_dir / f"{i}.png")
    assert call("train", "gan", "--data", f"folder:{img_dir}", "--image-size", "16", "--steps", "2",
                "--batch-size", "8", "--set", "width=8", "--out", tmp_path / "f", "-q") == 0
    assert call("sample", tmp_path / "f", "--n", "4", "--out", tmp_path / "f.npy") == 0
    assert np.load(tmp_path / "f.npy").shape == (4, 3, 16, 16)
