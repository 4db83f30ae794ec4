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

import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from genlab import __version__
from genlab.errors import BadInputError, BadRunError
from genlab.io import atomic_write_text

if TYPE_CHECKING:
    import torch

    from genlab.config import TrainConfig
    from genlab.models import DataInfo, GenerativeModel

CONFIG, WEIGHTS, STATE, CKPT_DIR = "config.json", "model.safetensors", "state.pt", "checkpoints"
METRICS_CSV, SAMPLES, TENSORBOARD = "metrics.csv", "samples", "tensorboard"
RUN_SCORES = "eval.json"  # the latest scores of a run; refined samples' scores in eval+METHOD.json
RUN_FILES = (CONFIG, WEIGHTS, STATE, METRICS_CSV, SAMPLES, CKPT_DIR, TENSORBOARD)
EMA_PREFIX = "ema."  # the generator's moving average, stored beside the weights in one file


FORMAT = 1  # run-folder format; a run written by a newer genlab with a higher format is refused


def write_config(run_dir: Path, config: dict) -> None:
    atomic_write_text(run_dir / CONFIG, json.dumps({"format": FORMAT, **config}, indent=2, sort_keys=True))


def read_config(run_dir: str | Path) -> dict:
    """The run's config.json, or a one-line BadRunError saying why the folder is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BadRunError(f"run folder {str(run_dir)!r} does not exist")
    path = run_dir / CONFIG
    if not path.is_file():
        raise BadRunError(f"{str(run_dir)!r} is not a genlab run (no {CONFIG}); pass a folder written by 'genlab train'")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRunError(f"{str(path)!r} is damaged (not valid JSON)") from None
    if not isinstance(cfg, dict) or not {"model", "train", "data_info"} <= cfg.keys():
        raise BadRunError(f"{str(path)!r} is not a genlab run config (needs model, train, data_info)")
    if int(cfg.get("format", 0)) > FORMAT:
        raise BadRunError(
            f"{str(path)!r} was written by a newer genlab (format {cfg['format']}, "
            f"version {cfg.get('genlab_version', '?')}); this genlab reads format <= {FORMAT}: upgrade genlab")
    return cfg


def split_ema(weights: dict) -> tuple[dict, dict]:
    """A weights file's tensors -> (the model's own, the EMA generator's without the prefix)."""
    n = len(EMA_PREFIX)
    return ({k: v for k, v in weights.items() if not k.startswith(EMA_PREFIX)},
            {k[n:]: v for k, v in weights.items() if k.startswith(EMA_PREFIX)})


def join_ema(weights: dict, ema: dict | None) -> dict:
    """The inverse of :func:`split_ema`: one dict for one file."""
    return {**weights, **{EMA_PREFIX + k: v for k, v in (ema or {}).items()}}


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


# ----------------------------------------------------------------------------- the run folder's life


def prepare_out(out: Path, *, resume: bool, overwrite: bool, data: str = "", child: bool = False) -> None:
    """Refuse to clobber: an existing run needs --resume or --overwrite; other content is never touched
    (``--overwrite`` replaces only what a run wrote), and the run folder never holds or sits inside
    the data it trains on. Checks only: an old run is replaced later, once every other setting has
    been checked. ``child``: another process of a data-parallel run (rank 0 owns the folder)."""
    if resume and overwrite:
        raise BadInputError("pass --resume to continue the run in --out or --overwrite to replace it, not both")
    target = out.expanduser().resolve()
    for path in data_paths(data):
        if path == target or path in target.parents:
            raise BadInputError(f"--out {str(out)!r} is inside the data folder {str(path)!r}: its samples would be "
                                f"read as data; choose an --out outside the data")
        if target in path.parents and not resume:
            raise BadInputError(f"--out {str(out)!r} holds the data {str(path)!r} this run trains on; keep data "
                                f"outside run folders (--overwrite would remove it)")
    if resume:
        read_config(out)  # raises a clear error when there is nothing to resume
        return
    if not out.exists() or child:
        return
    if not out.is_dir():
        raise BadInputError(f"--out {str(out)!r} exists and is not a folder")
    is_run = (out / CONFIG).is_file()
    if is_run and not overwrite:
        raise BadInputError(f"{str(out)!r} already holds a run; pass --resume to continue it or --overwrite to replace it")
    foreign = foreign_entries(out) if is_run else []
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise BadInputError(f"--overwrite replaces only what a run wrote, and {str(out)!r} also holds {shown}; "
                            f"move {'it' if len(foreign) == 1 else 'them'} out of the run folder first")
    if not is_run and any(out.iterdir()):
        raise BadInputError(f"--out {str(out)!r} is a non-empty folder that is not a run; choose a new or empty folder")
    cwd, target = Path.cwd().resolve(), out.resolve()
    if is_run and (cwd == target or target in cwd.parents):
        raise BadInputError(f"--overwrite cannot replace {str(out)!r}: it holds the current folder; run from elsewhere")


def set_aside(out: Path) -> tuple[Path, list[str]] | None:
    """Move the old run in ``out`` into a hidden sibling folder (``--overwrite``). It is deleted once
    the new run has a checkpoint, and put back when the new run fails before writing one."""
    if not (out / CONFIG).is_file():
        return None
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    os.replace(out, trash / "run")
    return trash, names


def has_checkpoint(out: Path) -> bool:
    return (out / WEIGHTS).is_file() or any((out / CKPT_DIR).glob("step_*"))


def end_start(out: Path, *, failed: bool, made: bool, old: tuple[Path, list[str]] | None) -> None:
    """After a new run ended. A run that failed before its first checkpoint leaves nothing behind
    (a folder it created is removed, an empty one emptied again) and an old run it was replacing
    comes back; otherwise the old run is deleted, saying what it held."""
    if failed and not has_checkpoint(out):
        if made:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for p in out.iterdir():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        if old is not None:
            os.replace(old[0] / "run", out)
            shutil.rmtree(old[0], ignore_errors=True)
        return
    if old is not None:
        shutil.rmtree(old[0], ignore_errors=True)
        shown = ", ".join(old[1][:10]) + (f" and {len(old[1]) - 10} more" if len(old[1]) > 10 else "")
        print(f"--overwrite: removed the old run in {str(out)!r} ({shown})", file=sys.stderr, flush=True)


def run_record(cfg: TrainConfig, info: DataInfo, data, *, data_as_typed: str | None = None) -> dict:
    """What config.json records: everything needed to rebuild the model without the dataset."""
    import torch

    return {
        "model": cfg.model,
        "train": dataclasses.asdict(cfg),  # train.data: the spec with absolute paths
        "data_as_typed": data_as_typed or cfg.data,  # the spec as the user wrote it, for display
        "data_info": info.to_dict(),
        "class_names": list(data.class_names),
        "modes": data.modes.tolist() if data.modes is not None else None,
        "mode_std": data.mode_std,
        "genlab_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


@dataclasses.dataclass
class Run:
    """A trained run loaded back (``genlab.load``): what every command that reads a run works on."""

    path: Path
    config: dict  # config.json: the model, its settings, the data's description
    model: GenerativeModel  # in eval mode, on the device asked for
    ema: bool  # the generator holds the EMA weights (not the last training weights)
    step: int | None = None  # the training step of the weights loaded

    @property
    def name(self) -> str:
        """The model's registry name: "gan", "vae"..."""
        return self.config["model"]

    @property
    def data(self) -> str:
        """The data spec as the user typed it (for titles)."""
        return self.config.get("data_as_typed") or self.config["train"]["data"]

    @property
    def modes(self) -> torch.Tensor | None:
        """The data's known mode centres (ring8, grid25), or None."""
        import torch

        modes = self.config.get("modes")
        return torch.tensor(modes, dtype=torch.float32) if modes else None


def has_ema(run_dir: str | Path) -> bool:
    """Whether the run's newest weights include an EMA copy (read from the file's index only)."""
    from safetensors import safe_open

    from genlab.training.checkpoint import candidates

    for folder in candidates(Path(run_dir)):
        try:
            with safe_open(str(folder / WEIGHTS), framework="pt") as f:
                return any(k.startswith("ema.") for k in f.keys())
        except Exception:  # missing or damaged: the next checkpoint, as load() does
            continue
    return False


def load(run_dir: str | Path, *, ema: bool | None = None, device: str = "cpu") -> Run:
    """Rebuild a trained run from its folder (no dataset needed). ``ema``: None uses the EMA
    weights when the run has them, True requires them, False uses the last training weights."""
    from genlab.models import DataInfo, build_model
    from genlab.training.checkpoint import load_latest, load_weights

    run_dir = Path(run_dir)
    saved = read_config(run_dir)
    info = DataInfo.from_dict(saved["data_info"])
    import torch

    with torch.random.fork_rng(devices=[]):  # the initial weights it draws are replaced: the caller's stream stays
        net = build_model(saved["model"], saved["train"]["model_args"], info)
    if (run_dir / WEIGHTS).is_file():
        weights, step = load_weights(run_dir / WEIGHTS)
    else:
        try:
            weights, _, step = load_latest(run_dir, need_state=False)
        except BadRunError:
            from genlab.lock import trainer_of

            holder = trainer_of(run_dir)
            if holder is None:
                raise
            raise BadRunError(f"run {str(run_dir)!r} is being trained by {holder} (it holds the run's lock) and has "
                              f"no weights yet; wait for its first checkpoint") from None
    plain, ema_w = split_ema(weights)
    try:
        net.load_state_dict(plain)
    except RuntimeError:
        raise BadRunError(f"weights in {str(run_dir)!r} do not match its config.json (damaged or edited run)") from None
    ema_w = ema_w if net.ema_part else {}
    if ema and not ema_w:
        raise BadInputError(f"run {str(run_dir)!r} has no EMA weights; train with --ema (or drop --ema)")
    use_ema = bool(ema_w) and ema is not False
    if use_ema:
        try:
            getattr(net, net.ema_part).load_state_dict(ema_w)
        except RuntimeError:
            raise BadRunError(f"EMA weights in {str(run_dir)!r} do not match its config.json "
                              f"(damaged or edited run)") from None
    return Run(path=run_dir, config=saved, model=net.to(_device(device)).eval(), ema=use_ema, step=step)


def _device(device) -> torch.device:
    """``device`` as torch reads it, when this machine has it; otherwise one line saying what it has."""
    import torch

    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as e:
        have = "cpu" + (", cuda" if torch.cuda.is_available() else "")
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInputError(f"device {device!r} cannot be used here ({first}); this machine has: {have}") from None
    return dev
