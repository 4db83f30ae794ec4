"""``genlab.evaluate`` and ``genlab eval`` on tiny runs; the likelihood bounds on a trained VAE."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genlab
from genlab.cli import main
from genlab.errors import BadInputError, UnknownNameError
from genlab.metrics.likelihood import bounds, likelihood_scores, log_weights
from helpers import run_main as call


def by_name(scores) -> dict:
    return {s.metric: s for s in scores}


def test_defaults_on_a_2d_run_follow_the_mode_protocol(tiny_gan_run):
    scores = by_name(genlab.evaluate(tiny_gan_run, seed=1))
    assert set(scores) == {"modes", "hq", "reverse_kl", "mmd"}
    m = scores["modes"]
    assert m.n_fake == 2500 and m.reference == "grid25:modes" and m.seed == 1 and m.step == 30
    assert 0 <= m.value <= 25 and 0 <= scores["hq"].value <= 1
    assert scores["mmd"].n_real == 2500 and scores["mmd"].extractor == "raw"
    assert scores["mmd"].reference == "grid25:test"
    again = by_name(genlab.evaluate(tiny_gan_run, metrics="modes,hq", seed=1))
    assert again["hq"].value == scores["hq"].value  # same seed, same samples


def test_image_vae_gets_every_applicable_metric(tiny_vae_image_run):
    scores = by_name(genlab.evaluate(tiny_vae_image_run, n=200, k=20))
    expected = {f"{m}_digits_cls" for m in ("fd", "kid", "precision", "recall", "density", "coverage")}
    expected |= {"sharpness", "class_coverage", "class_entropy", "cls_score", "confidence", "class_min_share",
                 "recon_mse", "psnr", "ssim", "elbo", "nll", "bpd"}
    assert set(scores) == expected
    fd = scores["fd_digits_cls"]
    card = json.loads((genlab.metrics.features.WEIGHTS_DIR / "digits_cls.json").read_text())
    assert fd.extractor == "digits_cls" and fd.extractor_sha256 == card["sha256"]
    assert fd.n_fake == 200 and fd.n_real == 179 and fd.reference == "digits:test" and fd.value > 0
    assert scores["nll"].value <= -scores["elbo"].value and scores["nll"].detail["k"] == 20
    assert scores["bpd"].value == pytest.approx(scores["nll"].value / (64 * math.log(2)))
    assert sum(scores["class_coverage"].detail["histogram"].values()) == 200
    cls = scores["cls_score"]  # the classifier score: provenance of the classifier, 1 to K
    assert cls.extractor == "digits_cls" and cls.extractor_sha256 == card["sha256"] and cls.n_fake == 200
    assert 1.0 <= cls.value <= 10.0


def test_bad_requests_raise_one_line_errors(tiny_gan_run, tiny_vae_image_run):
    with pytest.raises(UnknownNameError, match="valid: .*reverse_kl"):
        genlab.evaluate(tiny_gan_run, metrics="modes,nope")
    with pytest.raises(BadInputError, match="does not apply.*reconstruct"):
        genlab.evaluate(tiny_gan_run, metrics="psnr")
    with pytest.raises(BadInputError, match="--features is for image runs"):
        genlab.evaluate(tiny_gan_run, metrics="fd", features="inception")
    with pytest.raises(BadInputError, match="--weights PATH"):
        genlab.evaluate(tiny_vae_image_run, metrics="fd", features="inception")


def test_iw_bound_is_above_the_elbo_and_tightens_with_k(tmp_path):
    """On a VAE trained a little (fixed seed), -L_k <= -ELBO and -L_k falls as k grows."""
    from genlab.data import load_data

    net = genlab.train("vae", "digits", out=tmp_path / "vae", steps=150, batch_size=64, seed=0, quiet=True,
                       overrides={"width": 8, "latent_dim": 4}, sample_every=0)
    x = load_data("digits", split="test").x
    torch.manual_seed(0)
    lw = log_weights(net, x, 200, budget=2000)
    assert lw.shape == (len(x), 200)
    elbo, l200 = bounds(lw)
    assert (l200 >= elbo).all()  # Jensen, per example, for the same draws
    nll = {k: likelihood_scores(net, x, k=k)["nll"] for k in (1, 10, 100)}
    assert nll[1] > nll[10] > nll[100]
    s = likelihood_scores(net, x, k=10)
    assert s["nll"] <= s["neg_elbo"]


def test_eval_cli_prints_a_table_and_writes_json(tmp_path, capsys):
    run = tmp_path / "run"
    genlab.train("gan", "ring8", out=run, steps=5, batch_size=16, quiet=True)
    out = tmp_path / "scores.json"
    assert call("eval", run, "--metrics", "modes,reverse_kl", "--n", "500", "--json", out) == 0
    printed = capsys.readouterr().out
    assert "modes" in printed and "reverse_kl" in printed and "ring8:modes" in printed
    doc = json.loads(out.read_text())
    rows = doc["scores"]
    assert [r["metric"] for r in rows] == ["modes", "reverse_kl"]
    for key in ("value", "n_real", "n_fake", "extractor", "extractor_sha256", "reference", "seed",
                "genlab_version", "run"):
        assert key in rows[0]
    assert rows[0]["n_fake"] == 500 and not list(tmp_path.glob(".*.tmp"))
    # the run keeps its latest scores, keyed by the settings (what compare reuses, report shows)
    kept = json.loads((run / "eval.json").read_text())
    assert kept["settings"] == {"metrics": ["modes", "reverse_kl"], "n": 500, "seed": 0, "k": 100, "step": 5}
    assert kept == doc  # one format: --json writes the document the run keeps


def test_evaluate_stays_callable_after_its_module_is_imported(tiny_gan_run):
    import genlab.evaluation  # noqa: F401 - importing the module must not shadow the function

    assert [s.metric for s in genlab.evaluate(tiny_gan_run, metrics="modes", n=100)] == ["modes"]


def test_eval_cli_bad_metric_exits_2_with_one_line(tiny_gan_run, capsys):
    assert call("eval", tiny_gan_run, "--metrics", "fid") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown metric 'fid'" in err and "valid:" in err and "fd" in err
    assert call("eval", tiny_gan_run.parent / "missing") == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_and_compare_help_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from genlab.cli import main\n"
            "for cmd in ('eval', 'compare'):\n"
            "    try:\n        main([cmd, '--help'])\n    except SystemExit as e:\n        assert e.code == 0\n"
            "assert 'torch' not in sys.modules, 'torch imported by --help'\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.count("--metrics") == 2 and r.stdout.strip().endswith("ok"), r.stderr


def test_printed_metric_names_are_accepted_back(tiny_vae_image_run):
    """What eval prints (fd_digits_cls) is what --metrics accepts, with the same value."""
    from genlab.errors import BadInputError
    from genlab.evaluation import evaluate

    plain = {s.metric: s.value for s in evaluate(tiny_vae_image_run, metrics="fd,psnr", n=50)}
    assert "fd_digits_cls" in plain
    named = {s.metric: s.value for s in evaluate(tiny_vae_image_run, metrics="fd_digits_cls,psnr", n=50)}
    assert named == plain
    with pytest.raises(BadInputError, match="--features mnist5k_cls but the metrics name digits_cls"):
        evaluate(tiny_vae_image_run, metrics="fd_digits_cls", n=50, features="mnist5k_cls")
