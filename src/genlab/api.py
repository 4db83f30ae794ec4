"""The Python API: ``train`` a model into a run folder, ``load`` it back as a ``Run`` without the dataset."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from genlab import __version__
from genlab.config import TrainConfig, load_yaml, resolve, split_overrides
from genlab.errors import BadInputError, BadRunError, unknown
from genlab.lock import run_lock, run_lock_path
from genlab.models import MODELS, DataInfo, GenerativeModel
from genlab.training.checkpoint import (CKPT_DIR, CONFIG, WEIGHTS, candidates, load_latest, load_weights,
                                       read_config, saved_step, write_config)

# Settings a resumed run may change; everything else must match the saved run.
RESUMABLE = ("steps", "accelerator", "devices", "num_nodes", "rendezvous_timeout", "precision", "compile", "channels_last",
             "sample_every", "log_every", "ckpt_every", "keep_last", "nan_policy", "max_grad_norm", "logger", "root",
             "download", "cache_dir")


def model_class(name: str) -> type[GenerativeModel]:
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    return MODELS[name]


def data_info(data) -> DataInfo:
    scale = 1.0
    if len(data.sample_shape) == 1:  # vectors: remember the data's spread so networks work at unit scale
        scale = round(float(data.x.std()), 4) or 1.0
    # sample_shape, not x.shape: images stay uint8 until a batch needs them
    return DataInfo(kind=data.kind, shape=data.sample_shape, num_classes=data.num_classes, scale=scale)


def build_model(name: str, model_args: dict, info: DataInfo) -> GenerativeModel:
    cls = model_class(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    return cls(cls.Config(**{k: v for k, v in model_args.items() if k in fields}), info)


def _launcher() -> str:
    """Which launcher started this process, detected as Lightning Fabric detects its cluster
    environments (torchrun before SLURM): "torchrun", "slurm", "lightning" (MASTER_ADDR,
    MASTER_PORT and NODE_RANK set by hand on each machine, or by Fabric for its own workers), or ""."""
    env = os.environ
    if env.get("TORCHELASTIC_RUN_ID") is not None:  # torchrun / TorchElastic
        return "torchrun"
    if "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):  # srun
        return "slurm"
    if all(k in env for k in ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK")):
        return "lightning"
    return ""


def global_rank(devices: int = 1) -> int:
    """This process's rank among all processes of a data-parallel run, read from the environment
    its launcher set (0 for a plain process): torchrun's RANK, SLURM's SLURM_PROCID under srun,
    else Fabric's own launcher, which gives each worker NODE_RANK and LOCAL_RANK, so that the rank
    is NODE_RANK * devices + LOCAL_RANK. Rank 0 alone owns the run folder; whether a process is
    rank 0 does not depend on ``devices``."""
    env = os.environ
    launcher = _launcher()
    if launcher == "torchrun" and "RANK" in env:
        return int(env["RANK"])
    if launcher == "slurm" and "SLURM_PROCID" in env:
        return int(env["SLURM_PROCID"])
    node = int(env.get("NODE_RANK", env.get("GROUP_RANK", 0)))
    return node * devices + int(env.get("LOCAL_RANK", 0))


def _is_child_process() -> bool:
    return global_rank() != 0  # another process of a data-parallel run: rank 0 owns the run folder


def check_launch(cfg: TrainConfig) -> None:
    """A multi-node run needs a launcher that starts it on every machine and tells each process
    where to meet; without one, or with another number of processes than --devices x --num-nodes,
    the rendezvous would wait forever. Checked before anything is written."""
    world = cfg.devices * cfg.num_nodes
    launcher = _launcher()
    if cfg.num_nodes > 1 and not launcher:
        raise BadInputError(
            f"--num-nodes {cfg.num_nodes} needs a launcher on every machine and none was found (no torchrun, "
            f"SLURM srun or MASTER_ADDR/MASTER_PORT/NODE_RANK environment); on machine R of {cfg.num_nodes} run "
            f"`torchrun --nnodes {cfg.num_nodes} --nproc-per-node {cfg.devices} --node-rank R --master-addr HOST "
            f"--master-port 29500 -m genlab train ...`, or `srun genlab train ...` in a SLURM job with "
            f"--nodes={cfg.num_nodes} --ntasks-per-node={cfg.devices}")
    if world > 1 and launcher in ("torchrun", "slurm"):
        known = os.environ.get("WORLD_SIZE" if launcher == "torchrun" else "SLURM_NTASKS", "")
        if known.isdigit() and int(known) != world:
            name = "torchrun" if launcher == "torchrun" else "SLURM"
            raise BadInputError(
                f"{name} started {known} processes in all, but --devices {cfg.devices} x --num-nodes "
                f"{cfg.num_nodes} is {world}; give --devices (processes per machine) and --num-nodes (machines) "
                f"as the launcher has them")
    if cfg.num_nodes > 1 and cfg.batch_size % world:
        raise BadInputError(f"batch_size {cfg.batch_size} must be divisible by the {world} processes "
                            f"(--devices {cfg.devices} x --num-nodes {cfg.num_nodes})")


def prepare_out(out: Path, *, resume: bool, overwrite: bool, data: str = "") -> None:
    """Refuse to clobber: an existing run needs --resume or --overwrite; other content is never touched
    (``--overwrite`` replaces only what a run wrote), and the run folder never holds or sits inside
    the data it trains on. Checks only: an old run is replaced later, once every other setting has
    been checked."""
    from genlab.runs import data_paths, foreign_entries

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
    if not out.exists() or _is_child_process():
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


def _set_aside(out: Path) -> tuple[Path, list[str]] | None:
    """Move the old run in ``out`` into a hidden sibling folder (``--overwrite``). It is deleted once
    the new run has a checkpoint, and put back when the new run fails before writing one."""
    if not (out / CONFIG).is_file():
        return None
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    os.replace(out, trash / "run")
    return trash, names


def _has_checkpoint(out: Path) -> bool:
    return (out / WEIGHTS).is_file() or any((out / CKPT_DIR).glob("step_*"))


def _end_start(out: Path, *, failed: bool, made: bool, old: tuple[Path, list[str]] | None) -> None:
    """After a new run ended. A run that failed before its first checkpoint leaves nothing behind
    (a folder it created is removed, an empty one emptied again) and an old run it was replacing
    comes back; otherwise the old run is deleted, saying what it held."""
    if failed and not _has_checkpoint(out):
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


def train(model: str, data: str, *, out: str | Path, steps: int | None = None, batch_size: int | None = None,
          lr: float | None = None, seed: int | None = None, config: str | Path | dict | None = None,
          overrides: dict | list[str] | None = None, resume: bool = False, overwrite: bool = False,
          quiet: bool = True, command: str = "", **options: Any) -> GenerativeModel:
    """Train ``model`` on ``data`` into the run folder ``out`` and return the trained model.

    ``overrides`` are ``--set`` pairs (``["loss=minimax"]`` or ``{"loss": "minimax"}``); ``options``
    are any other TrainConfig fields (``devices=2``, ``ema=True``…). ``resume=True`` continues the
    run in ``out`` (possibly to a larger ``steps``) and gives the same weights as an uninterrupted run.
    """
    cls = model_class(model)
    values: dict[str, Any] = {}
    if config is not None:
        values.update(config if isinstance(config, dict) else load_yaml(config))
    explicit = {k: v for k, v in dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed).items() if v is not None}
    explicit.update({k: v for k, v in options.items() if v is not None})
    values.update(explicit)
    given = split_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {})
    for key in explicit.keys() & given.keys():  # the same setting twice: neither silently wins
        if str(explicit[key]) != str(given[key]):
            raise BadInputError(f"{key} is given twice with different values ({explicit[key]!r} as its own option, "
                                f"{given[key]!r} as a setting); give it once")
    values.update(given)
    out = Path(out)
    # one process per run folder: a second `genlab train` on the same --out stops here, naming the first
    with contextlib.nullcontext() if _is_child_process() else run_lock(out):
        return _train_holding(cls, model, data, values, out, resume=resume, overwrite=overwrite, quiet=quiet,
                              command=command)


def _train_holding(cls, model: str, data: str, values: dict, out: Path, *, resume: bool, overwrite: bool,
                   quiet: bool, command: str) -> GenerativeModel:
    """``train`` once this process holds the run folder ``out``."""
    from genlab.data import load_data
    from genlab.data import resolve_spec as resolve_data_spec
    from genlab.training.trainer import Trainer

    prepare_out(out, resume=resume, overwrite=overwrite, data=resolve_data_spec(data))
    resume_state, weights, step = None, None, 0
    if resume:
        saved = read_config(out)
        cfg = _resume_config(saved, _with_model_and_data(values, model, data), cls)
        weights, resume_state, step = load_latest(out)
        if step >= cfg.steps:
            raise BadInputError(f"run {str(out)!r} is already at step {step}; pass --steps larger than {step} to continue")
    else:
        cfg = resolve_config(model, data, values, kind="")  # every setting checked before the data loads
    check_launch(cfg)
    data_bundle = load_data(cfg.data, image_size=cfg.image_size or None, root=cfg.root or None,
                            download=cfg.download, seed=cfg.seed, cache_dir=cfg.cache_dir or None)
    if not resume:
        cfg = resolve_config(model, data, values, kind=data_bundle.kind)
    check_settings(cls, cfg, data_bundle.kind)
    if resume:
        _check_same_data(out, saved, data_bundle)
    for n in data_bundle.sizes.values():  # checked before the run folder is written
        if n < cfg.batch_size:
            raise BadInputError(f"batch_size {cfg.batch_size} is larger than the dataset ({n} items); "
                                f"use --batch-size {n} or less")
    info = data_info(data_bundle)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg.model, cfg.model_args, info)
    if weights is not None:
        net.load_state_dict({k: v for k, v in weights.items() if not k.startswith("ema.")})
    child = _is_child_process()
    old, made, saved_text = None, False, None
    if not resume and not child:
        old = _set_aside(out) if overwrite else None
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, run_record(cfg, info, data_bundle, data_as_typed=data))
    elif not child:  # the config records what this run does now: the new --steps, devices...
        saved_text = (out / CONFIG).read_text()
        write_config(out, {**{k: v for k, v in saved.items() if k != "format"}, "train": dataclasses.asdict(cfg)})
    ema_weights = {k[4:]: v for k, v in (weights or {}).items() if k.startswith("ema.")}
    failed = True
    try:  # from here on a failure (an interrupt included) before the first checkpoint leaves nothing behind
        # a start abandoned while its processes meet (Ctrl-C, SIGTERM) leaves nothing behind either
        abandon = None if child or resume else lambda: (_end_start(out, failed=True, made=made, old=old),
                                                        run_lock_path(out).unlink(missing_ok=True))
        trainer = Trainer(net, data_bundle, cfg, out, quiet=quiet, resume_state=resume_state, command=command,
                          resume_ema=ema_weights or None, abandon=abandon)
        result = trainer.fit()
        failed = False
        return result
    finally:
        if not child and not resume:
            _end_start(out, failed=failed, made=made, old=old)
        elif not child and failed and saved_step(out) in (step, None):  # nothing new was saved
            from genlab.io import atomic_write_text

            atomic_write_text(out / CONFIG, saved_text)


def resolve_config(model: str, data: str, settings: dict, *, kind: str | None = None) -> TrainConfig:
    """The configuration ``train`` runs for ``settings`` (flat: a YAML file's keys, options, --set
    pairs): the user's settings over the family's defaults for the kind of data (``kind``: read
    from the data when None, "" for none), with the data's paths made absolute. ``genlab
    compare`` and the benchmark scripts resolve through here, so they train what ``train`` trains."""
    cls = model_class(model)
    values = _with_model_and_data(settings, model, data)
    cfg = resolve(cls, dict(values))
    if kind is None:
        kind = data_kind(cfg)
    cfg = _apply_preset(cls, values, kind) or cfg
    if kind:
        check_settings(cls, cfg, kind)
        _check_used(cls, cfg, kind, set(values) | set(values.get("model_args") or {}))
    return cfg


def _check_used(cls, cfg: TrainConfig, kind: str, given: set[str]) -> None:
    """A setting the user gave that this run would not read (a game's own settings under another
    game, DiffAugment on vectors) is refused, so config.json records only what ran."""
    from genlab import games

    args = cfg.model_args
    if "augment" in given and args.get("augment") and kind == "vector":
        raise BadInputError(f"augment={args['augment']!r} (DiffAugment) is for image critics; {cfg.data!r} holds "
                            f"vectors (drop --set augment)")
    if "loss" not in args:
        return
    game = games.game(args["loss"])
    # a value the user chose: given, and neither the family's default nor its recipe's (a resolved
    # config handed back whole, as compare does, repeats those)
    usual = {f.name: f.default for f in dataclasses.fields(cls.Config)}
    preset = {**cls.presets.get(kind, {}), **cls.presets.get(str(cfg.data).partition(":")[0], {})}
    chosen = {k for k in given & args.keys() if args[k] != usual.get(k) and args[k] != preset.get(k, usual.get(k))}
    unused = [k for k in ("a", "b", "c") if k in chosen and game.configure is None]
    unused += [k for k in ("gp_weight",) if k in chosen and game.penalty is None]
    if unused:
        users = [n for n, g in games.GAMES.items() if (g.penalty if unused[0] == "gp_weight" else g.configure)]
        raise BadInputError(f"{unused[0]} is a setting of the {', '.join(users)} game, and this run plays "
                            f"loss={args['loss']!r}; drop it or choose that game with --set loss=NAME")


def data_kind(cfg: TrainConfig) -> str:
    """"vector", "image" or "unpaired": the kind of ``cfg``'s data (loads it)."""
    from genlab.data import load_data

    return load_data(cfg.data, image_size=cfg.image_size or None, root=cfg.root or None, download=cfg.download,
                     seed=cfg.seed, cache_dir=cfg.cache_dir or None).kind


def _with_model_and_data(settings: dict, model: str, data: str) -> dict:
    """``settings`` plus the model and data of the command line; a config file or --set naming
    another model or dataset is refused rather than silently overruled."""
    from genlab.data import resolve_spec

    values = dict(settings)
    spec = resolve_spec(data)
    for key, given, same in (("model", model, lambda v: v == model),
                             ("data", data, lambda v: isinstance(v, str) and resolve_spec(v) == spec)):
        if key in values and not same(values[key]):
            raise BadInputError(f"the settings give {key} {values[key]!r} but the command line {given!r}; "
                                f"remove {key!r} from the config file (or --set)")
    for key in ("root", "cache_dir"):
        if isinstance(values.get(key), str) and values[key]:
            values[key] = str(Path(values[key]).expanduser().resolve())
    return {**values, "model": model, "data": spec}


def check_settings(cls, cfg: TrainConfig, kind: str) -> None:
    """Settings that would be accepted and then ignored are refused instead."""
    if cfg.image_size and kind == "vector":
        raise BadInputError(f"--image-size is for image data; {cfg.data!r} holds vectors (drop --image-size)")
    if cfg.ema and cls.ema_part is None:
        raise BadInputError(f"--ema is not available for {cfg.model!r}: it has no single generator to average; "
                            f"drop --ema")
    if cfg.precision == "16-mixed" and _runs_on_cpu(cfg.accelerator):
        raise BadInputError("--precision 16-mixed needs a CUDA GPU (on the CPU it would run as bf16-mixed); "
                            "use --precision bf16-mixed or 32-true")
    mcfg = cls.Config(**cfg.model_args)
    if hasattr(mcfg, "validate_batch"):  # a model setting that constrains the final batch (PacGAN's pack)
        mcfg.validate_batch(cfg.batch_size // (cfg.devices * cfg.num_nodes))


def _runs_on_cpu(accelerator: str) -> bool:
    if accelerator == "cpu":
        return True
    mps = getattr(torch.backends, "mps", None)
    return accelerator == "auto" and not torch.cuda.is_available() and not (mps is not None and mps.is_available())


def _apply_preset(cls, values: dict, kind: str) -> TrainConfig | None:
    """Defaults a family uses on one kind of data (``cls.presets[kind]``) and on one dataset
    (``cls.presets[name]``, over the kind's), below anything the user set: e.g. the 2-D settings
    of a paper's toy experiments rather than its image ones, or a recipe tuned on mnist5k."""
    from genlab.data import parse_spec

    presets = getattr(cls, "presets", {})
    name = parse_spec(str(values.get("data", "")))[0] if values.get("data") else ""
    preset = {**presets.get(kind, {}), **(presets.get(name, {}) if kind else {})}
    given = set(values) | set(values.get("model_args") or {})
    extra = {k: v for k, v in preset.items() if k not in given}
    return resolve(cls, {**values, **extra}) if extra else None


def _resume_config(saved: dict, values: dict, cls) -> TrainConfig:
    from genlab.data import resolve_spec

    train_saved = dict(saved["train"])
    if isinstance(train_saved.get("data"), str):  # runs that stored the data's paths as typed
        train_saved["data"] = resolve_spec(train_saved["data"])
    for key in ("model", "data"):
        if values.get(key) and values[key] != train_saved.get(key):
            shown = saved.get("data_as_typed", train_saved["data"]) if key == "data" else train_saved.get(key)
            raise BadInputError(f"cannot resume: the run was trained with {key} {shown!r}, not {values[key]!r}")
    changed = {k: v for k, v in values.items() if k not in ("model", "data")}
    bad = [k for k in changed if k not in RESUMABLE and changed[k] != train_saved.get(k, saved["train"]["model_args"].get(k))]
    if bad:
        raise BadInputError(f"cannot change {bad[0]!r} when resuming; only {', '.join(RESUMABLE)} may change")
    merged = {**{k: v for k, v in train_saved.items() if k != "model_args"}, **{k: changed[k] for k in changed if k in RESUMABLE}}
    merged["model_args"] = saved["train"]["model_args"]
    return resolve(cls, merged)


def _check_same_data(out: Path, saved: dict, data) -> None:
    """A resumed run's data must still have the classes and shape it was trained on (a folder
    that gained a class folder would change the model's label count)."""
    was, now = saved.get("class_names") or [], list(data.class_names)
    if was != now:
        raise BadInputError(f"cannot resume {str(out)!r}: its data now has the classes {now} but the run was trained "
                            f"on {was}; restore the data as it was or train a new run")
    shape = list(saved.get("data_info", {}).get("shape") or [])
    if shape and shape != list(data.sample_shape):
        raise BadInputError(f"cannot resume {str(out)!r}: its data now has shape {list(data.sample_shape)} but the run "
                            f"was trained on {shape}")


def run_record(cfg: TrainConfig, info: DataInfo, data, *, data_as_typed: str | None = None) -> dict:
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
        modes = self.config.get("modes")
        return torch.tensor(modes, dtype=torch.float32) if modes else None


def has_ema(run_dir: str | Path) -> bool:
    """Whether the run's newest weights include an EMA copy (read from the file's index only)."""
    from safetensors import safe_open

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
    run_dir = Path(run_dir)
    saved = read_config(run_dir)
    info = DataInfo.from_dict(saved["data_info"])
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
    plain = {k: v for k, v in weights.items() if not k.startswith("ema.")}
    try:
        net.load_state_dict(plain)
    except RuntimeError:
        raise BadRunError(f"weights in {str(run_dir)!r} do not match its config.json (damaged or edited run)") from None
    ema_w = {k[4:]: v for k, v in weights.items() if k.startswith("ema.")} if net.ema_part else {}
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
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as e:
        have = "cpu" + (", cuda" if torch.cuda.is_available() else "")
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInputError(f"device {device!r} cannot be used here ({first}); this machine has: {have}") from None
    return dev
