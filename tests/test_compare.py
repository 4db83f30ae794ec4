"""``genlab compare``: model variants, a tiny 2-model x 2-seed leaderboard, reuse and resume."""

from __future__ import annotations

import csv
import json
import math

import pytest

from genlab.comparison import compare, parse_entry, summarise
from genlab.leaderboard import markdown
from genlab.errors import BadInputError, UnknownNameError
from helpers import run_main as call


def test_model_variants_map_to_overrides():
    assert parse_entry("gan").overrides == {}
    e = parse_entry("gan:minimax")
    assert (e.model, e.overrides, e.folder) == ("gan", {"loss": "minimax"}, "gan-minimax")
    assert parse_entry("vae:k=5,beta=0.5").overrides == {"k": 5, "beta": 0.5}
    with pytest.raises(BadInputError, match="valid: .*minimax.*nonsaturating"):
        parse_entry("gan:nope")
    with pytest.raises(UnknownNameError, match="unknown model 'gann'"):
        parse_entry("gann")


def test_summarise_mean_and_standard_error():
    s = summarise([1.0, 2.0, 3.0, 6.0])
    assert s["mean"] == 3.0 and s["se"] == pytest.approx(math.sqrt(14 / 3 / 4))
    assert math.isnan(summarise([4.0])["se"])


def test_compare_cli_writes_leaderboard_and_figures_then_reuses(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "gan:minimax", "vae", "--data", "ring8", "--seeds", "2", "--steps", "6",
            "--batch-size", "16", "--n", "300", "--out", out]
    assert call(*args) == 0
    captured = capsys.readouterr()
    assert "gan:minimax seed 1: training 6 steps" in captured.err
    assert "| gan:minimax |" in captured.out
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "samples.png", "metrics.png"):
        assert (out / name).is_file(), name
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["columns"][:4] == ["modes", "hq", "reverse_kl", "mmd"] and "nll" in board["columns"]
    stats = board["rows"]["vae"]["metrics"]["mmd"]
    assert stats["n"] == 2 and len(stats["values"]) == 2
    assert stats["mean"] == pytest.approx(sum(stats["values"]) / 2)
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    assert [r["model"] for r in rows] == ["gan:minimax", "vae"] and rows[0]["nll_mean"] == ""
    assert (out / "runs" / "gan-minimax" / "seed1" / "eval.json").is_file()
    cfg = json.loads((out / "runs" / "gan-minimax" / "seed0" / "config.json").read_text())
    assert cfg["train"]["model_args"]["loss"] == "minimax" and cfg["train"]["seed"] == 0

    # started again: nothing retrains, the scores come from the cache and are identical
    before = (out / "leaderboard.json").read_text()
    assert call(*args) == 0
    assert capsys.readouterr().err.count("reused") == 4
    assert (out / "leaderboard.json").read_text() == before

    # more steps: every run resumes from its checkpoint
    board = compare(["gan:minimax"], data="ring8", seeds=1, steps=9, batch_size=16, n=300, out=out,
                    figures=False, log=lambda line: None)
    assert board["steps"] == 9 and board["rows"]["gan:minimax"]["metrics"]["modes"]["n"] == 1
    cfg = json.loads((out / "runs" / "gan-minimax" / "seed0" / "eval.json").read_text())
    assert cfg["settings"]["step"] == 9


def test_compare_refuses_a_folder_trained_differently(tmp_path, capsys):
    out = tmp_path / "cmp"
    compare(["gan"], data="ring8", seeds=1, steps=3, batch_size=16, n=100, out=out, figures=False,
            log=lambda line: None)
    assert call("compare", "gan", "--data", "ring8", "--seeds", "1", "--steps", "3", "--batch-size", "32",
                "--out", out) == 2
    assert "another batch_size" in capsys.readouterr().err
    assert call("compare", "gan:nope", "--data", "ring8", "--out", out) == 2


def test_markdown_marks_the_best_mean():
    board = {"data": "d", "seeds": 2, "steps": 1, "columns": ["fd", "sharpness"],
             "better": {"fd": "lower", "sharpness": "one"},
             "rows": {"a": {"metrics": {"fd": summarise([1.0, 3.0]), "sharpness": summarise([0.5, 0.5])}},
                      "b": {"metrics": {"fd": summarise([5.0, 7.0]), "sharpness": summarise([1.1, 1.1])}}}}
    text = markdown(board)
    assert "| a | **2 ± 1** | 0.5 ± 0 |" in text and "| b | 6 ± 1 | **1.1 ± 0** |" in text


def test_a_run_saved_before_a_game_setting_existed_is_reused(tmp_path, capsys):
    """A wgan-gp run whose saved game settings predate one (``gp_every``) trained at that
    setting's default: compare reuses it instead of calling it another configuration."""
    out = tmp_path / "cmp"
    args = ["compare", "wgan-gp", "--data", "ring8", "--seeds", "1", "--steps", "3", "--batch-size", "16",
            "--n", "100", "--out", out]
    assert call(*args) == 0
    path = out / "runs" / "wgan-gp" / "seed0" / "config.json"
    cfg = json.loads(path.read_text())
    assert cfg["train"]["model_args"]["game"].pop("gp_every") == 1
    path.write_text(json.dumps(cfg))
    capsys.readouterr()
    assert call(*args) == 0
    assert "wgan-gp seed 0: done (3 steps), reused" in capsys.readouterr().err
