"""The run folder's file names, and the one rule every file a command writes goes through.

A run folder holds ``config.json``, ``model.safetensors``, ``state.pt``, ``checkpoints/``,
``metrics.csv``, ``samples/``, ``tensorboard/`` and the scores ``genlab eval`` keeps
(``eval.json``, ``eval+dot.json``, ``eval+drs.json``). :func:`check_output` is the rule for
every writer (``sample --out``, ``eval --json``, ``interpolate --out``, ``report --out``,
``translate --out``, ``demo --out``, ``compare --out``, ``train --out``):

- never one of a run's own files (or the run folder itself);
- never a data file or folder in use (the data of the run a command reads);
- an existing file only with ``--overwrite`` (or when the command itself wrote it earlier);
- a folder where a file is wanted, or a place that cannot be written, is refused up front.

Each refusal is one ``BadInputError`` line (exit code 2) before anything is written.
Nothing here imports torch: the CLI checks outputs before it loads a model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from genlab.errors import BadInputError

CONFIG, WEIGHTS, STATE, CKPT_DIR = "config.json", "model.safetensors", "state.pt", "checkpoints"
METRICS_CSV, SAMPLES, TENSORBOARD = "metrics.csv", "samples", "tensorboard"
RUN_SCORES = "eval.json"  # the latest scores of a run; refined samples' scores in eval+METHOD.json
RUN_FILES = (CONFIG, WEIGHTS, STATE, METRICS_CSV, SAMPLES, CKPT_DIR, TENSORBOARD)


def is_own_name(name: str) -> bool:
    """Whether ``name`` (an entry of a run folder) is one a run writes: its files, its scores, and
    the hidden temporary files of its atomic writes."""
    if name in RUN_FILES or name == RUN_SCORES:
        return True
    if name.startswith("eval+") and name.endswith(".json"):
        return True
    return name.startswith(".") and name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in
                                                                     (*RUN_FILES, RUN_SCORES, "eval+"))


def is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a genlab run: a config.json with a run's keys (read, not trusted by name)."""
    path = folder / CONFIG
    if not path.is_file():
        return False
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(cfg, dict) and {"model", "train", "data_info"} <= cfg.keys()


def foreign_entries(run_dir: Path) -> list[str]:
    """Entries of a run folder that no run wrote (a user's files kept there): ``--overwrite``
    never removes them."""
    return sorted(p.name for p in Path(run_dir).iterdir() if not is_own_name(p.name))


def owning_run(path: Path) -> Path | None:
    """The run folder of which ``path`` is the folder itself or one of its own files, else None."""
    target = Path(path).expanduser().resolve()
    if is_run(target):
        return target
    for folder in target.parents:
        if is_own_name(target.relative_to(folder).parts[0]) and is_run(folder):
            return folder
    return None


def data_paths(spec: str | None) -> list[Path]:
    """The files or folders a data spec reads (``points:FILE``, ``folder:DIR``, ``unpaired:A,B``),
    absolute; none for the embedded sets."""
    if not spec or ":" not in spec:
        return []
    name, _, arg = spec.partition(":")
    name, arg = name.strip().lower(), arg.strip()
    if not arg or name not in ("points", "folder", "unpaired"):
        return []
    parts = arg.split(",") if name == "unpaired" else [arg]
    return [Path(p.strip()).expanduser().resolve() for p in parts if p.strip()]


def run_data_paths(run_dir: str | Path) -> list[Path]:
    """The data paths of the run in ``run_dir`` (from its config.json), or none."""
    try:
        cfg = json.loads((Path(run_dir) / CONFIG).read_text())
        return data_paths(cfg["train"]["data"])
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return []


def _within(target: Path, folder: Path) -> bool:
    return target == folder or folder in target.parents


def _writable_place(path: Path, flag: str) -> None:
    """The nearest existing folder above ``path`` must be a folder this process can write in."""
    for folder in Path(path).expanduser().absolute().parents:
        if folder.exists():
            if not folder.is_dir():
                raise BadInputError(f"{flag} {str(path)!r} cannot be written: {str(folder)!r} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise BadInputError(f"{flag} {str(path)!r} cannot be written: no permission to write in "
                                    f"{str(folder)!r}; choose a writable place")
            return


def check_output(path: str | Path, *, overwrite: bool = False, flag: str = "--out", folder: bool = False,
                 data: Iterable[Path] = (), ours: Callable[[Path], bool] | None = None,
                 hint: str = "pass --overwrite to replace it or choose another name") -> None:
    """The one rule for a file (or, with ``folder``, a folder of results) a command is about to
    write; raises one ``BadInputError`` line naming what is wrong and what to do.

    ``data``: files and folders in use as data (the run's own data for commands that read a
    run). ``ours(path)``: an existing file this command wrote earlier (a genlab report), which
    it may replace without ``overwrite``. ``hint`` says how to allow replacing (commands without
    ``--overwrite`` say something else)."""
    path = Path(path)
    target = path.expanduser().resolve()
    run = owning_run(target)
    if run is not None:
        what = "is the run folder" if target == run else "is part of the run in"
        raise BadInputError(f"{flag} {str(path)!r} {what} {str(run)!r}; write it outside the run's own files")
    for d in data:
        if _within(target, d) or (folder and _within(d, target)):
            raise BadInputError(f"{flag} {str(path)!r} is the data {str(d)!r} in use; write it elsewhere")
    if folder:
        if path.exists() and not path.is_dir():
            raise BadInputError(f"{flag} {str(path)!r} exists and is not a folder")
        _writable_place(path / "x", flag)
        return
    if path.is_dir():
        raise BadInputError(f"{flag} {str(path)!r} is a folder; give a file name")
    if path.exists() and not overwrite and not (ours is not None and ours(path)):
        raise BadInputError(f"{flag} {str(path)!r} already exists; {hint}")
    _writable_place(path, flag)


def check_run_output(path: str | Path, run_dir: str | Path, **kwargs) -> None:
    """:func:`check_output` for a command that reads the run in ``run_dir``: its data is in use."""
    check_output(path, data=run_data_paths(run_dir), **kwargs)
