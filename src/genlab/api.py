"""The Python API: ``train`` a model into a run folder; ``load`` (genlab.runs) brings it back
as a ``Run`` without the dataset. Also who launched this process (data-parallel ranks)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import torch

from genlab.config import load_yaml, split_overrides
from genlab.configure import check_same_data, check_settings, resolve_config, resume_config, with_model_and_data
from genlab.errors import BadInputError
from genlab.lock import run_lock, run_lock_path
from genlab.models import GenerativeModel, build_model, data_info, model_class
from genlab.runs import (CONFIG, Run, end_start, load, prepare_out, read_config, run_record, set_aside,  # noqa: F401
                         split_ema, write_config)
from genlab.training.checkpoint import load_latest, saved_step


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
    # the run seeds the process-wide generators; the caller's stream is back as it was afterwards
    with contextlib.nullcontext() if _is_child_process() else run_lock(out), torch.random.fork_rng(devices=[]):
        return _train_holding(cls, model, data, values, out, resume=resume, overwrite=overwrite, quiet=quiet,
                              command=command)


def _train_holding(cls, model: str, data: str, values: dict, out: Path, *, resume: bool, overwrite: bool,
                   quiet: bool, command: str) -> GenerativeModel:
    """``train`` once this process holds the run folder ``out``."""
    from genlab.data import load_data
    from genlab.data import resolve_spec as resolve_data_spec
    from genlab.training.trainer import Trainer

    child = _is_child_process()
    prepare_out(out, resume=resume, overwrite=overwrite, data=resolve_data_spec(data), child=child)
    resume_state, weights, step = None, None, 0
    if resume:
        saved = read_config(out)
        cfg = resume_config(saved, with_model_and_data(values, model, data), cls)
        weights, resume_state, step = load_latest(out)
        if step >= cfg.steps:
            raise BadInputError(f"run {str(out)!r} is already at step {step}; pass --steps larger than {step} to continue")
        planned = saved["train"]["steps"]
        if cfg.steps != planned and saved["train"]["model_args"].get("lr_decay") and not child:
            print(f"note: lr_decay is a fraction of the whole run, so the learning-rate schedule now spans "
                  f"{cfg.steps} steps instead of {planned}: this run will differ from one planned for {cfg.steps} "
                  f"steps from the start", file=sys.stderr, flush=True)
    else:
        cfg = resolve_config(model, data, values)  # the recipe of the data's declared kind, checked before it loads
    check_launch(cfg)
    data_bundle = load_data(cfg.data, image_size=cfg.image_size or None, root=cfg.root or None,
                            download=cfg.download, seed=cfg.seed, cache_dir=cfg.cache_dir or None)
    check_settings(cls, cfg, data_bundle.kind)
    if resume:
        check_same_data(out, saved, data_bundle)
    for n in data_bundle.sizes.values():  # checked before the run folder is written
        if n < cfg.batch_size:
            raise BadInputError(f"batch_size {cfg.batch_size} is larger than the dataset ({n} items); "
                                f"use --batch-size {n} or less")
    info = data_info(data_bundle)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg.model, cfg.model_args, info)
    plain, ema_weights = split_ema(weights or {})
    if weights is not None:
        net.load_state_dict(plain)
    old, made, saved_text = None, False, None
    if not resume and not child:
        old = set_aside(out) if overwrite else None
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, run_record(cfg, info, data_bundle, data_as_typed=data))
    elif not child:  # the config records what this run does now: the new --steps, devices...
        saved_text = (out / CONFIG).read_text()
        write_config(out, {**{k: v for k, v in saved.items() if k != "format"}, "train": dataclasses.asdict(cfg)})
    failed = True
    try:  # from here on a failure (an interrupt included) before the first checkpoint leaves nothing behind
        # a start abandoned while its processes meet (Ctrl-C, SIGTERM) leaves nothing behind either
        abandon = None if child or resume else lambda: (end_start(out, failed=True, made=made, old=old),
                                                        run_lock_path(out).unlink(missing_ok=True))
        trainer = Trainer(net, data_bundle, cfg, out, quiet=quiet, resume_state=resume_state, command=command,
                          resume_ema=ema_weights or None, abandon=abandon)
        result = trainer.fit()
        failed = False
        return result
    finally:
        if not child and not resume:
            end_start(out, failed=failed, made=made, old=old)
        elif not child and failed and saved_step(out) in (step, None):  # nothing new was saved
            from genlab.io import atomic_write_text

            atomic_write_text(out / CONFIG, saved_text)
