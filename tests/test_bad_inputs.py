"""The bad-input matrix: every way a user can hand genlab something unusable, through the CLI.

Each case must end with exit code 2, exactly one line on stderr starting with "error:", no
warning printed before it, and every file the user had exactly as it was (content and
modification time), with nothing new created. Runs in-process (``genlab.cli.main``).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import png, run_main, tiny_run, write_files

# ----------------------------------------------------------------------------- helpers


def folder(t: Path, files: dict[str, bytes]) -> Path:
    return write_files(t / "imgs", files)


def text_file(t: Path, name: str, text: str) -> Path:
    p = t / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def npy(t: Path, array, name="p.npy") -> Path:
    p = t / name
    np.save(p, array, allow_pickle=True)
    return p


def run_copy(t: Path, base: Path) -> Path:
    return Path(shutil.copytree(base, t / "run"))


class Payload:
    """Unpickled with weights_only=False this would create the file MARKER: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def payload_state(path: Path, marker: Path) -> None:
    torch.save({"step": 4, "optimizers": Payload(marker), "rng": {}}, path)


def train(model: str, *args, out="new") -> list:
    """A tiny training command; ``args`` come last, so they override the defaults before them."""
    return ["train", model, "--out", f"@/{out}", "--steps", "3", "--batch-size", "4", "-q", *args]


def binary_file(t: Path, name: str, data: bytes) -> Path:
    p = t / name
    p.write_bytes(data)
    return p


def non_empty_folder(t: Path) -> Path:
    text_file(t, "mine/notes.txt", "keep")
    return t / "mine"


def config_file(t: Path, text: str) -> list:
    return ["train", "gan", "--data", "grid25", "--out", "@/new", "--config", str(text_file(t, "c.yaml", text))]


def points_case(path: Path, *extra) -> list:
    return train_data(f"points:{path}", *extra)


def folder_case(path: Path, *extra) -> list:
    return train_data(f"folder:{path}", *extra)


def train_data(data: str, *extra) -> list:
    return ["train", "gan", "--data", data, "--out", "@/new", "--steps", "3", "--batch-size", "4", "-q", *extra]


TRUNCATED = png()[:40]
RAGGED = "1,2\n3,4,5\n6,7\n"

# Each case: name -> build(t, base) -> argv; "@" in an argument stands for the case's folder.
CASES = {
    # user images
    "folder all truncated": lambda t, b: folder_case(folder(t, {f'{i}.png': TRUNCATED for i in range(3)})),
    "folder empty": lambda t, b: folder_case(folder(t, {})),
    "folder only text files": lambda t, b: folder_case(folder(t, {'a.txt': b'x', 'b.csv': b'1,2'})),
    "folder zero-byte images": lambda t, b: folder_case(folder(t, {'a.png': b'', 'b.jpg': b''})),
    "folder image-named text": lambda t, b: folder_case(folder(t, {'a.png': b'not an image at all'})),
    "folder missing": lambda t, b: folder_case(t / 'nowhere'),
    "folder is a file": lambda t, b: folder_case(text_file(t, 'f.png', 'x')),
    "folder without path": lambda t, b: train_data("folder"),
    "folder smaller than batch": lambda t, b: folder_case(folder(t, {'a.png': png(), 'b.png': png(seed=1)}),
                                                         "--batch-size", "8"),
    # user points
    "points ragged rows": lambda t, b: points_case(text_file(t, 'p.csv', RAGGED)),
    "points NaN": lambda t, b: points_case(text_file(t, 'p.csv', '1,2\n3,nan\n5,6\n')),
    "points Inf": lambda t, b: points_case(text_file(t, 'p.csv', '1,2\n3,inf\n5,6\n')),
    "points beyond float32": lambda t, b: points_case(text_file(t, 'p.csv', '1,2\n3,1e300\n5,6\n')),
    "points text cell": lambda t, b: points_case(text_file(t, 'p.csv', '1,2\n3,abc\n5,6\n')),
    "points empty cell": lambda t, b: points_case(text_file(t, 'p.csv', '1,2\n3,\n5,6\n')),
    "points empty file": lambda t, b: points_case(text_file(t, 'p.csv', '')),
    "points header only": lambda t, b: points_case(text_file(t, 'p.csv', 'x,y\n')),
    "points one row": lambda t, b: points_case(text_file(t, 'p.csv', '1,2\n')),
    "points binary csv": lambda t, b: points_case(binary_file(t, 'p.csv', bytes(range(256)))),
    "points npy 3-D": lambda t, b: points_case(npy(t, np.zeros((4, 2, 2)))),
    "points npy objects": lambda t, b: points_case(npy(t, np.array([{'a': 1}, None], dtype=object))),
    "points npy strings": lambda t, b: points_case(npy(t, np.array([['a', 'b'], ['c', 'd']]))),
    "points npy garbage": lambda t, b: points_case(binary_file(t, 'p.npy', b'garbage' * 9)),
    "points wrong extension": lambda t, b: points_case(text_file(t, 'p.txt', '1,2\n3,4\n')),
    "points missing": lambda t, b: points_case(t / 'nope.csv'),
    "points smaller than batch": lambda t, b: points_case(text_file(t, 'p.csv', '1,2\n3,4\n5,6\n'),
                                                         "--batch-size", "64"),
    # names
    "unknown model": lambda t, b: train("gam", "--data", "grid25"),
    "unknown dataset": lambda t, b: train("gan", "--data", "grid26"),
    "dataset with stray argument": lambda t, b: train("gan", "--data", "grid25:extra"),
    "unknown logger": lambda t, b: train("gan", "--data", "grid25", "--logger", "wandb"),
    # settings
    "set unknown key": lambda t, b: train("gan", "--data", "grid25", "--set", "learning_rate=0.1"),
    "set bad int": lambda t, b: train("gan", "--data", "grid25", "--set", "latent_dim=abc"),
    "set float for int": lambda t, b: train("gan", "--data", "grid25", "--set", "latent_dim=2.5"),
    "set bad float": lambda t, b: train("gan", "--data", "grid25", "--set", "lr=fast"),
    "set infinite float": lambda t, b: train("gan", "--data", "grid25", "--set", "lr=1e999"),
    "set huge integer as float": lambda t, b: train("gan", "--data", "grid25", "--set", "lr=" + "9" * 400),
    "set bad bool": lambda t, b: train("gan", "--data", "grid25", "--set", "ema=maybe"),
    "set bad choice": lambda t, b: train("gan", "--data", "grid25", "--set", "nan_policy=ignore"),
    "set without equals": lambda t, b: train("gan", "--data", "grid25", "--set", "lr"),
    "set empty key": lambda t, b: train("gan", "--data", "grid25", "--set", "=3"),
    "set list for float": lambda t, b: train("gan", "--data", "grid25", "--set", "lr=[1, 2]"),
    "set model_args not a mapping": lambda t, b: train("gan", "--data", "grid25", "--set", "model_args=3"),
    "steps zero": lambda t, b: ["train", "gan", "--data", "grid25", "--out", "@/new", "--steps", "0"],
    "steps negative": lambda t, b: ["train", "gan", "--data", "grid25", "--out", "@/new", "--steps", "-5"],
    "steps not a number": lambda t, b: ["train", "gan", "--data", "grid25", "--out", "@/new", "--steps", "ten"],
    "batch size zero": lambda t, b: train("gan", "--data", "grid25", "--batch-size", "0"),
    "batch size larger than dataset": lambda t, b: train("gan", "--data", "digits", "--batch-size", "100000"),
    "negative lr": lambda t, b: train("gan", "--data", "grid25", "--lr", "-1"),
    "image size too small": lambda t, b: train("gan", "--data", "digits", "--image-size", "2"),
    "ckpt_every zero": lambda t, b: train("gan", "--data", "grid25", "--set", "ckpt_every=0"),
    "model setting out of range": lambda t, b: train("vae", "--data", "grid25", "--set", "beta=-1"),
    "config file missing": lambda t, b: train("gan", "--data", "grid25", "--config", str(t / "none.yaml")),
    "config file bad yaml": lambda t, b: config_file(t, "a: [1\n"),
    "config file a list": lambda t, b: config_file(t, "- 1\n- 2\n"),
    "config file bad value": lambda t, b: config_file(t, "steps: many\n"),
    "config file unknown key": lambda t, b: config_file(t, "stepz: 3\n"),
    "config file binary": lambda t, b: ["train", "gan", "--data", "grid25", "--out", "@/new", "--config",
                                        str(binary_file(t, "c.yaml", bytes(range(256))))],
    # output folders
    "out is an existing run": lambda t, b: ["train", "gan", "--data", "ring8", "--out", run_copy(t, b), "--steps", "3"],
    "out is a non-empty folder": lambda t, b: train("gan", "--data", "grid25", "--out", non_empty_folder(t)),
    "out is a file": lambda t, b: ["train", "gan", "--data", "grid25", "--out", text_file(t, "out.txt", "keep"), "--steps", "3"],
    # resuming
    "resume without a run": lambda t, b: train("gan", "--data", "ring8") + ["--resume"],
    "resume with another model": lambda t, b: ["train", "lsgan", "--data", "ring8", "--out", run_copy(t, b), "--steps", "8", "--resume"],
    "resume with another dataset": lambda t, b: ["train", "gan", "--data", "grid25", "--out", run_copy(t, b), "--steps", "8", "--resume"],
    "resume changing a fixed setting": lambda t, b: ["train", "gan", "--data", "ring8", "--out", run_copy(t, b), "--steps", "8",
                                                     "--resume", "--set", "hidden=64"],
    "resume an already finished run": lambda t, b: ["train", "gan", "--data", "ring8", "--out", run_copy(t, b), "--steps", "4", "--resume"],
    # damaged runs
    "sample missing run": lambda t, b: ["sample", t / "nope", "--n", "4", "--out", "@/s.png"],
    "sample folder not a run": lambda t, b: ["sample", text_file(t, "x/readme.md", "hi").parent, "--n", "4", "--out", "@/s.png"],
    "config.json missing": lambda t, b: ["sample", _damage(t, b, "config.json", None), "--n", "4", "--out", "@/s.png"],
    "config.json not json": lambda t, b: ["sample", _damage(t, b, "config.json", b"{not json"), "--n", "4", "--out", "@/s.png"],
    "config.json not a run config": lambda t, b: ["sample", _damage(t, b, "config.json", b'{"a": 1}'), "--n", "4", "--out", "@/s.png"],
    "config.json from a newer genlab": lambda t, b: ["sample", _newer(t, b), "--n", "4", "--out", "@/s.png"],
    "resume config from a newer genlab": lambda t, b: ["train", "gan", "--data", "ring8", "--out", _newer(t, b), "--steps", "8", "--resume"],
    "weights missing everywhere": lambda t, b: ["sample", _no_weights(t, b), "--n", "4", "--out", "@/s.png"],
    "weights garbage": lambda t, b: ["sample", _damage(t, b, "model.safetensors", b"\x00" * 64), "--n", "4", "--out", "@/s.png"],
    "weights truncated": lambda t, b: ["sample", _truncate(t, b, "model.safetensors"), "--n", "4", "--out", "@/s.png"],
    "weights of another model": lambda t, b: ["sample", _swap_weights(t, b), "--n", "4", "--out", "@/s.png"],
    "state missing everywhere": lambda t, b: ["train", "gan", "--data", "ring8", "--out", _no_state(t, b), "--steps", "8", "--resume"],
    "state damaged everywhere": lambda t, b: ["train", "gan", "--data", "ring8", "--out", _bad_state(t, b), "--steps", "8", "--resume"],
    "state pickle payload": lambda t, b: ["train", "gan", "--data", "ring8", "--out", _payload(t, b, top=True), "--steps", "8", "--resume"],
    "state pickle payload in checkpoint": lambda t, b: ["train", "gan", "--data", "ring8", "--out", _payload(t, b, top=False),
                                                        "--steps", "8", "--resume"],
    # sample / interpolate / report arguments
    "sample n zero": lambda t, b: ["sample", run_copy(t, b), "--n", "0", "--out", "@/s.png"],
    "sample bad extension": lambda t, b: ["sample", run_copy(t, b), "--n", "4", "--out", "@/s.jpg"],
    "sample class on unconditional": lambda t, b: ["sample", run_copy(t, b), "--n", "4", "--out", "@/s.png", "--class", "1"],
    "interpolate bad extension": lambda t, b: ["interpolate", run_copy(t, b), "--out", "@/i.mp4"],
    "interpolate one step": lambda t, b: ["interpolate", run_copy(t, b), "--out", "@/i.png", "--steps", "1"],
    "interpolate bad seeds": lambda t, b: ["interpolate", run_copy(t, b), "--out", "@/i.png", "--seeds", "a,b"],
    "interpolate one seed": lambda t, b: ["interpolate", run_copy(t, b), "--out", "@/i.png", "--seeds", "3"],
    "interpolate bad method": lambda t, b: ["interpolate", run_copy(t, b), "--out", "@/i.png", "--method", "cubic"],
    "interpolate grid on 2-D data": lambda t, b: ["interpolate", run_copy(t, b), "--out", "@/i.png", "--grid"],
    "interpolate missing run": lambda t, b: ["interpolate", t / "nope", "--out", "@/i.png"],
    "report missing path": lambda t, b: ["report", t / "nope", "--out", "@/r.html"],
    "report folder without runs": lambda t, b: ["report", text_file(t, "x/readme.txt", "hi").parent, "--out", "@/r.html"],
    "report out not html": lambda t, b: ["report", run_copy(t, b), "--out", "@/r.pdf"],
    "report out is someone's page": lambda t, b: ["report", run_copy(t, b), "--out", text_file(t, "r.html", "<p>mine</p>")],
    "unknown command option": lambda t, b: ["train", "gan", "--data", "grid25", "--out", "@/new", "--bogus"],
    # sizes the convolutional networks cannot halve, checked before any folder is created
    "image size odd": lambda t, b: train("gan", "--data", "digits", "--image-size", "33"),
    "image size 7": lambda t, b: train("gan", "--data", "digits", "--image-size", "7"),
    "image size 6 for a vae": lambda t, b: train("vae", "--data", "digits", "--image-size", "6"),
    # options that would be accepted and then ignored
    "image size on 2-D data": lambda t, b: train("gan", "--data", "grid25", "--image-size", "16"),
    "precision 16-mixed on the CPU": lambda t, b: train("gan", "--data", "grid25", "--accelerator", "cpu",
                                                        "--precision", "16-mixed"),
    "config file names another model": lambda t, b: config_file(t, "model: vae\n"),
    "config file names another dataset": lambda t, b: config_file(t, "data: ring8\n"),
    "set names another model": lambda t, b: train("gan", "--data", "grid25", "--set", "model=vae"),
    "resume and overwrite together": lambda t, b: ["train", "gan", "--data", "ring8", "--out", run_copy(t, b),
                                                   "--steps", "8", "--resume", "--overwrite"],
    "ema for cyclegan": lambda t, b: train("cyclegan", "--data", "seasons", "--image-size", "16", "--ema"),
    # outputs that would replace someone's file
    "sample out is a run's metrics": lambda t, b: ["sample", run_copy(t, b), "--n", "4", "--out", t / "run" / "metrics.csv"],
    "sample out is a run's own file, overwrite": lambda t, b: ["sample", run_copy(t, b), "--n", "4", "--out",
                                                               t / "run" / "samples" / "s.png", "--overwrite"],
    "sample out exists": lambda t, b: ["sample", run_copy(t, b), "--n", "4", "--out", text_file(t, "s.csv", "mine")],
    "demo out holds someone's report": lambda t, b: ["demo", "--quick", "--out",
                                                     text_file(t, "d/report.html", "<p>mine</p>").parent],
    "demo out holds someone's summary": lambda t, b: ["demo", "--quick", "--out",
                                                      text_file(t, "d/summary.md", "my notes").parent],
    "interpolate grid with seeds": lambda t, b: ["interpolate", run_copy(t, b), "--out", "@/i.png", "--grid",
                                                 "--seeds", "0,1"],
}


def _damage(t: Path, base: Path, name: str, data: bytes | None) -> Path:
    run = run_copy(t, base)
    if data is None:
        (run / name).unlink()
    else:
        (run / name).write_bytes(data)
    return run


def _truncate(t: Path, base: Path, name: str) -> Path:
    run = run_copy(t, base)
    (run / name).write_bytes((run / name).read_bytes()[:100])
    return run


def _newer(t: Path, base: Path) -> Path:
    run = run_copy(t, base)
    cfg = json.loads((run / "config.json").read_text())
    cfg.update(format=99, genlab_version="9.0.0")
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def _no_weights(t: Path, base: Path) -> Path:
    run = run_copy(t, base)
    for p in run.rglob("model.safetensors"):
        p.unlink()
    return run


def _swap_weights(t: Path, base: Path) -> Path:
    run = run_copy(t, base)
    from safetensors.torch import save_file

    save_file({"W": torch.zeros(3)}, str(run / "model.safetensors"))
    return run


def _no_state(t: Path, base: Path) -> Path:
    run = run_copy(t, base)
    for p in run.rglob("state.pt"):
        p.unlink()
    return run


def _bad_state(t: Path, base: Path) -> Path:
    run = run_copy(t, base)
    for p in run.rglob("state.pt"):
        p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    return run


def _payload(t: Path, base: Path, *, top: bool) -> Path:
    run = run_copy(t, base)
    if top:
        payload_state(run / "state.pt", t / "PWNED")
    else:  # the top state is gone: loading falls back to checkpoints/, where the payload waits
        (run / "state.pt").unlink()
        for p in (run / "checkpoints").rglob("state.pt"):
            payload_state(p, t / "PWNED")
    return run


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A tiny finished GAN run on ring8 (4 steps, checkpoints at 2 and 4)."""
    return tiny_run(tmp_path_factory, "gan", "ring8", name="run", steps=4, batch_size=32, ckpt_every=2,
                    overrides={"hidden": 16})


def _expand(args, t: Path) -> list[str]:
    return [str(a).replace("@", str(t), 1) if str(a).startswith("@/") else str(a) for a in args]


def test_the_matrix_is_large():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, base_run, user_error):
    user = tmp_path / "user"
    user.mkdir()
    args = _expand(CASES[name](user, base_run), user)
    user_error(*args, unchanged=user)  # exit 2, one "error:" line, no warning, no user file touched
    assert not (user / "PWNED").exists()


def test_the_payload_is_live(tmp_path):
    """The pickle payload above really runs code when loaded unsafely, so refusing it means something."""
    payload_state(tmp_path / "state.pt", tmp_path / "marker")
    torch.load(tmp_path / "state.pt", weights_only=False)
    assert (tmp_path / "marker").exists()


def test_half_precision_on_the_automatic_accelerator_without_a_gpu_is_refused(monkeypatch):
    """``--accelerator auto`` (the default) lands on the CPU when there is no GPU: 16-mixed is refused
    there with the same message as on ``--accelerator cpu``, not with an internal error."""
    from genlab.configure import resolve_config
    from genlab.errors import BadInputError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(BadInputError, match="16-mixed needs a CUDA GPU"):
        resolve_config("gan", "grid25", {"precision": "16-mixed"})


def test_unknown_metric_is_one_line(tmp_path, base_run, user_error):
    err = user_error("eval", base_run, "--metrics", "no-such-metric", unchanged=base_run)
    assert "no-such-metric" in err


def test_partly_bad_folder_trains_with_one_warning(tmp_path, capsys):
    """Some corrupt files, mixed sizes and channel counts: the readable images train, the rest are counted."""
    d = folder(tmp_path, {"a.png": png((12, 10)), "b.png": png((30, 18), seed=1), "c.png": png((9, 9), "L", seed=2),
                          "d.jpg": png((16, 16), "RGBA", seed=3), "bad.png": TRUNCATED, "notes.txt": b"x",
                          "e.png": png((20, 20), "LA", seed=4), "f.png": b""})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = run_main("train", "gan", "--data", f"folder:{d}", "--image-size", "8", "--steps", "2", "--batch-size", "4",
                        "--set", "width=8", "--out", tmp_path / "run", "-q")
    assert code == 0
    msgs = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert len(msgs) == 1 and "skipped 3 of 8 files" in msgs[0]
    info = json.loads((tmp_path / "run" / "config.json").read_text())["data_info"]
    assert info["shape"] == [3, 8, 8]  # gray and RGBA images joined the RGB ones
