"""The Python API: ``train`` a model into a run folder, ``load`` it back without the dataset."""

from __future__ import annotations

import dataclasses
import platform
import shutil
from pathlib import Path
from typing import Any

import torch

from genlab import __version__
from genlab.config import TrainConfig, load_yaml, resolve, split_overrides
from genlab.errors import BadInputError, BadRunError, unknown
from genlab.models import MODELS, DataInfo, GenerativeModel
from genlab.training.checkpoint import RUN_FILES, WEIGHTS, load_latest, load_weights, read_config, write_config

# Settings a resumed run may change; everything else must match the saved run.
RESUMABLE = ("steps", "accelerator", "devices", "precision", "sample_every", "log_every", "ckpt_every",
             "keep_last", "nan_policy", "max_grad_norm", "logger", "root", "download")


def model_class(name: str) -> type[GenerativeModel]:
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    return MODELS[name]


def data_info(data) -> DataInfo:
    scale = 1.0
    if data.x.dim() == 2:  # vectors: remember the data's spread so networks work at unit scale
        scale = round(float(data.x.std()), 4) or 1.0
    return DataInfo(kind=data.kind, shape=tuple(data.x.shape[1:]), num_classes=data.num_classes, scale=scale)


def build_model(name: str, model_args: dict, info: DataInfo) -> GenerativeModel:
    cls = model_class(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    return cls(cls.Config(**{k: v for k, v in model_args.items() if k in fields}), info)


def _is_child_process() -> bool:
    import os

    return os.environ.get("LOCAL_RANK", "0") != "0"  # a DDP worker re-running the same command


def prepare_out(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber: an existing run needs --resume or --overwrite; other content is never touched."""
    if resume:
        read_config(out)  # raises a clear error when there is nothing to resume
        return
    if not out.exists() or _is_child_process():
        return
    if not out.is_dir():
        raise BadInputError(f"--out {str(out)!r} exists and is not a folder")
    is_run = (out / "config.json").is_file()
    if is_run and not overwrite:
        raise BadInputError(f"{str(out)!r} already holds a run; pass --resume to continue it or --overwrite to replace it")
    if not is_run and any(out.iterdir()):
        raise BadInputError(f"--out {str(out)!r} is a non-empty folder that is not a run; choose a new or empty folder")
    if is_run and overwrite:
        for name in RUN_FILES:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


def train(model: str, data: str, *, out: str | Path, steps: int | None = None, batch_size: int | None = None,
          lr: float | None = None, seed: int | None = None, config: str | Path | dict | None = None,
          overrides: dict | list[str] | None = None, resume: bool = False, overwrite: bool = False,
          quiet: bool = True, command: str = "", **options: Any) -> GenerativeModel:
    """Train ``model`` on ``data`` into the run folder ``out`` and return the trained model.

    ``overrides`` are ``--set`` pairs (``["loss=minimax"]`` or ``{"loss": "minimax"}``); ``options``
    are any other TrainConfig fields (``devices=2``, ``ema=True``…). ``resume=True`` continues the
    run in ``out`` (possibly to a larger ``steps``) and gives the same weights as an uninterrupted run.
    """
    from genlab.data import load_data
    from genlab.training.trainer import Trainer

    cls = model_class(model)
    values: dict[str, Any] = {}
    if config is not None:
        values.update(config if isinstance(config, dict) else load_yaml(config))
    values.update({k: v for k, v in dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed).items() if v is not None})
    values.update({k: v for k, v in options.items() if v is not None})
    values.update(split_overrides(overrides) if isinstance(overrides, list) else (overrides or {}))
    values.update(model=model, data=data)
    out = Path(out)
    prepare_out(out, resume=resume, overwrite=overwrite)
    resume_state, weights = None, None
    if resume:
        saved = read_config(out)
        cfg = _resume_config(saved, values, cls)
        weights, resume_state, step = load_latest(out)
        if step >= cfg.steps:
            raise BadInputError(f"run {str(out)!r} is already at step {step}; pass --steps larger than {step} to continue")
    else:
        cfg = resolve(cls, dict(values))
    data_bundle = load_data(cfg.data, image_size=cfg.image_size or None, root=cfg.root or None,
                            download=cfg.download, seed=cfg.seed)
    if not resume:
        cfg = _apply_preset(cls, values, data_bundle.kind) or cfg
    for part in (data_bundle.x, data_bundle.x_b):  # checked before the run folder is written
        if part is not None and len(part) < cfg.batch_size:
            raise BadInputError(f"batch_size {cfg.batch_size} is larger than the dataset ({len(part)} items); "
                                f"use --batch-size {len(part)} or less")
    info = data_info(data_bundle)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg.model, cfg.model_args, info)
    if weights is not None:
        net.load_state_dict({k: v for k, v in weights.items() if not k.startswith("ema.")})
    if not resume and not _is_child_process():
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, run_record(cfg, info, data_bundle))
    ema_weights = {k[4:]: v for k, v in (weights or {}).items() if k.startswith("ema.")}
    trainer = Trainer(net, data_bundle, cfg, out, quiet=quiet, resume_state=resume_state, command=command,
                      resume_ema=ema_weights or None)
    return trainer.fit()


def _apply_preset(cls, values: dict, kind: str) -> TrainConfig | None:
    """Defaults a family uses on one kind of data (``cls.presets[kind]``), below anything the
    user set: e.g. the 2-D settings of a paper's toy experiments rather than its image ones."""
    preset = getattr(cls, "presets", {}).get(kind, {})
    given = set(values) | set(values.get("model_args") or {})
    extra = {k: v for k, v in preset.items() if k not in given}
    return resolve(cls, {**values, **extra}) if extra else None


def _resume_config(saved: dict, values: dict, cls) -> TrainConfig:
    train_saved = dict(saved["train"])
    for key in ("model", "data"):
        if values.get(key) and values[key] != train_saved.get(key):
            raise BadInputError(f"cannot resume: the run was trained with {key} {train_saved.get(key)!r}, not {values[key]!r}")
    changed = {k: v for k, v in values.items() if k not in ("model", "data")}
    bad = [k for k in changed if k not in RESUMABLE and changed[k] != train_saved.get(k, saved["train"]["model_args"].get(k))]
    if bad:
        raise BadInputError(f"cannot change {bad[0]!r} when resuming; only {', '.join(RESUMABLE)} may change")
    merged = {**{k: v for k, v in train_saved.items() if k != "model_args"}, **{k: changed[k] for k in changed if k in RESUMABLE}}
    merged["model_args"] = saved["train"]["model_args"]
    return resolve(cls, merged)


def run_record(cfg: TrainConfig, info: DataInfo, data) -> dict:
    return {
        "model": cfg.model,
        "train": dataclasses.asdict(cfg),
        "data_info": info.to_dict(),
        "class_names": list(data.class_names),
        "modes": data.modes.tolist() if data.modes is not None else None,
        "mode_std": data.mode_std,
        "genlab_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


def load(run_dir: str | Path, *, ema: bool = False, device: str = "cpu") -> GenerativeModel:
    """Rebuild a trained model from its run folder (no dataset needed); ``ema=True`` uses EMA weights."""
    run_dir = Path(run_dir)
    saved = read_config(run_dir)
    info = DataInfo.from_dict(saved["data_info"])
    net = build_model(saved["model"], saved["train"]["model_args"], info)
    if (run_dir / WEIGHTS).is_file():
        weights, _ = load_weights(run_dir / WEIGHTS)
    else:
        weights, _, _ = load_latest(run_dir, need_state=False)
    plain = {k: v for k, v in weights.items() if not k.startswith("ema.")}
    try:
        net.load_state_dict(plain)
    except RuntimeError:
        raise BadRunError(f"weights in {str(run_dir)!r} do not match its config.json (damaged or edited run)") from None
    if ema:
        ema_w = {k[4:]: v for k, v in weights.items() if k.startswith("ema.")}
        if not ema_w or net.ema_part is None:
            raise BadInputError(f"run {str(run_dir)!r} has no EMA weights; train with --ema")
        getattr(net, net.ema_part).load_state_dict(ema_w)
    net.run_config = saved
    return net.to(device).eval()
