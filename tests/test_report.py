"""``genlab report``: one self-contained HTML file, checked as text and in a real headless browser."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genlab
from genlab.comparison import summarise, write_leaderboard
from helpers import run_main as call


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory) -> Path:
    """A folder as a comparison leaves it: two runs, a leaderboard, a summary and per-run scores."""
    root = tmp_path_factory.mktemp("cmp") / "study"
    genlab.train("gan", "ring8", out=root / "gan_seed0", steps=40, batch_size=64, log_every=2, sample_every=10,
                 overrides={"hidden": 32})
    genlab.train("vae", "digits", out=root / "vae_seed0", steps=6, batch_size=32, log_every=2, sample_every=3,
                 overrides={"width": 8, "latent_dim": 2})
    # what `genlab eval` caches in a run and `genlab compare` writes next to its runs
    score = {"metric": "modes", "value": 7, "n_real": 0, "n_fake": 2500, "extractor": "none", "extractor_sha256": None,
             "reference": "ring8:modes", "seed": 0, "genlab_version": "0.1.0", "run": "gan_seed0", "step": 40,
             "detail": {}}
    (root / "gan_seed0" / "eval.json").write_text(json.dumps(
        {"settings": {"n": 2500, "seed": 0}, "scores": [score, {**score, "metric": "reverse_kl", "value": None,
                                                                "nonfinite": "inf"}]}))
    board = {"data": "ring8", "seeds": 2, "steps": 40, "n": None, "columns": ["modes", "hq"],
             "better": {"modes": "higher", "hq": "higher"}, "scores": {},
             "rows": {"gan": {"model": "gan", "overrides": {}, "steps": 40, "refine": None,
                              "metrics": {"modes": summarise([6.7, 7.3]), "hq": summarise([0.9, 0.924])}},
                      "vae": {"model": "vae", "overrides": {}, "steps": 40, "refine": None,
                              "metrics": {"modes": summarise([6.0, 6.0]), "hq": summarise([0.5, 0.6])}}}}
    write_leaderboard(board, root)  # leaderboard.md, .csv and .json as `genlab compare` writes them
    shutil.copyfile(root / "gan_seed0" / "samples" / "step_0000040.png", root / "samples.png")
    (root / "notes.md").write_text("# Study notes\n\nSee the `gan` run.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                                   "![first grid](gan_seed0/samples/step_0000010.png)\n[a link](https://example.com)\n")
    return root


@pytest.fixture(scope="module")
def report(compare_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep") / "report.html"
    assert call("report", compare_dir, "--out", out) == 0
    return out


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_is_one_self_contained_file(report):
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # nothing is fetched from anywhere: every src is an embedded image, no links out, no scripts
    srcs = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page)
    assert srcs and all(s.startswith(("data:image/png;base64,", "#")) for s in srcs), set(srcs)
    assert not re.search(r"https?://|<script|<link|@import|url\(", page)
    pngs = images(page)
    assert len(pngs) >= 10
    for data in pngs:
        img = Image.open(io.BytesIO(data))
        img.verify()
        assert img.format == "PNG"


def test_report_shows_config_provenance_curves_samples_and_scores(report, compare_dir):
    page = report.read_text()
    for text in ("gan_seed0 — gan on ring8", "vae_seed0 — vae on digits", "Training settings", "Provenance",
                 "Losses", "Training health", "Samples during training", "Samples and their density",
                 "Latent interpolation", "decoded latent manifold", "modes covered", "Scores: eval.json",
                 "Leaderboard: ring8", "<b>7 ± 0.3</b>", "<th>modes ↑</th>", "2 seed(s) per model", "ring8:modes",
                 ">inf<", "torch", "2500", "(n=2,500)", "Figures", "samples.png"):
        assert text in page, text
    # tables come from the JSON the commands wrote; Markdown (genlab's or anyone's) is not parsed back
    assert "Study notes" not in page and "example.com" not in page
    gan_cfg = json.loads((compare_dir / "gan_seed0" / "config.json").read_text())
    assert gan_cfg["torch_version"] in page and gan_cfg["genlab_version"] in page
    # one embedded grid per samples/*.png: gan wrote 4 (steps 10..40), vae 2 (steps 3, 6)
    assert page.count("<figcaption>step ") == 6
    assert page.index("Leaderboard: ring8") < page.index("Figures")  # the leaderboard leads the summary
    assert page.count("leaderboard.json") == 0 and page.count("leaderboard.md") == 0  # one table, no file names


def test_leaderboard_json_alone_is_a_table(tmp_path):
    (tmp_path / "leaderboard.json").write_text(json.dumps([{"model": "gan", "fd": 1.5}, {"model": "vae", "fd": 2.5}]))
    out = tmp_path / "r.html"
    assert call("report", tmp_path, "--out", out) == 0
    page = out.read_text()
    assert "<th>fd</th>" in page and '<td class="num">2.5</td>' in page and "0 runs" in page


def test_a_mode_count_is_the_same_number_wherever_it_is_shown(report, compare_dir):
    """The report's mode table, its runs table and score_run (the demo's path) agree, with n."""
    from genlab.evaluation import MODE_SCORES, format_modes, score_run

    scores = {s.metric: s for s in score_run(compare_dir / "gan_seed0", MODE_SCORES)}
    shown = format_modes(scores["modes"])
    assert shown.endswith("/8 (n=2,500)")
    assert report.read_text().count(f"<td>{shown}</td>") == 2  # the run's mode table and the runs table


def test_demo_summary_is_json_and_markdown_and_the_report_reads_the_json(tmp_path):
    from genlab.demo import markdown, summary_doc

    Image.new("RGB", (20, 20), (200, 30, 30)).save(tmp_path / "grid25_gan.png")
    rows = [{"model": "gan", "data": "grid25", "steps": 4, "seconds": 0.5, "figure": "grid25_gan.png",
             "modes": "21/25 (n=2,500)", "hq": "93.0%", "reverse_kl": "0.1", "scores": []},
            {"model": "vae", "data": "mnist5k", "steps": 4, "seconds": 1.0, "figure": "mnist5k_vae.png"}]
    doc = summary_doc(rows, quick=True)
    text = markdown(doc)
    assert text.startswith("# genlab demo\n") and "| gan | 4 | 0.5 | 21/25 (n=2,500) | 93.0% | 0.1 |" in text
    assert "| vae | 4 | 1.0 |" in text and "![gan](grid25_gan.png)" in text
    (tmp_path / "summary.json").write_text(json.dumps(doc))
    (tmp_path / "summary.md").write_text(text.replace("21/25", "99/25"))  # never read back
    out = tmp_path / "r.html"
    assert call("report", tmp_path, "--out", out) == 0
    page = out.read_text()
    for shown in ("genlab demo", "2-D mode collapse", "MNIST digits", "<td>21/25 (n=2,500)</td>", "<th>hq</th>",
                  "<figcaption>gan</figcaption>"):
        assert shown in page, shown
    assert "99/25" not in page and "<h3>Figures</h3>" not in page  # the figure is the table's, shown once


def test_report_of_a_single_run(compare_dir, tmp_path):
    out = tmp_path / "one.html"
    assert call("report", compare_dir / "vae_seed0", "--out", out, "--no-interpolation") == 0
    page = out.read_text()
    assert "vae_seed0 — vae on digits" in page and "gan_seed0" not in page and "Latent interpolation" not in page


def test_report_replaces_its_own_earlier_file_but_no_other(compare_dir, tmp_path):
    out = tmp_path / "r.html"
    assert call("report", compare_dir / "gan_seed0", "--out", out, "--no-interpolation") == 0
    first = out.stat().st_mtime_ns
    assert call("report", compare_dir / "gan_seed0", "--out", out, "--no-interpolation") == 0
    assert out.stat().st_mtime_ns >= first
    mine = tmp_path / "mine.html"
    mine.write_text("<p>my page</p>")
    assert call("report", compare_dir / "gan_seed0", "--out", mine) == 2
    assert mine.read_text() == "<p>my page</p>"
    assert call("report", compare_dir / "gan_seed0", "--out", mine, "--overwrite", "--no-interpolation") == 0


def test_report_survives_a_damaged_run(compare_dir, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(compare_dir, study)
    (study / "vae_seed0" / "model.safetensors").write_bytes(b"\x00" * 10)
    (study / "gan_seed0" / "metrics.csv").write_text("step,loss_d\n1,abc\n2,")
    out = tmp_path / "r.html"
    assert call("report", study, "--out", out, "--no-interpolation") == 0
    page = out.read_text()
    assert "weights not shown" in page and "vae_seed0" in page


# ----------------------------------------------------------------------------- in a real browser


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        pytest.skip("no chromium/chrome on PATH (Debian: apt-get install chromium); the browser check needs one")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})


# The page has no script, so any console message at all (chromium logs them as "...:CONSOLE:N] ...",
# or "CONSOLE(N)" in older builds) means something went wrong; so does any failed load.
CONSOLE_TROUBLE = re.compile(r"Uncaught|:CONSOLE[:(]|CONSOLE\(\d+\)|Failed to load resource|net::ERR_")


def test_report_renders_in_a_headless_browser(report, tmp_path):
    shot = tmp_path / "shot.png"
    r = browser(["--window-size=1280,2400", "--hide-scrollbars", f"--screenshot={shot}", report.as_uri()], tmp_path)
    assert shot.is_file(), r.stderr[-2000:]
    assert not CONSOLE_TROUBLE.search(r.stderr), r.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.float32)
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels.std() > 20  # not a blank page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # figures, not just text on white
    dom = browser(["--dump-dom", report.as_uri()], tmp_path)
    assert not CONSOLE_TROUBLE.search(dom.stderr), dom.stderr[-2000:]
    assert "Training settings" in dom.stdout and dom.stdout.count("<img") >= 10
    assert "gan_seed0 — gan on ring8" in dom.stdout
