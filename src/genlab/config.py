"""Run configuration: dataclasses with defaults, YAML in/out, type-checked ``key=value`` overrides.

A run is described by a :class:`TrainConfig` (what every family shares: data, steps, devices…)
plus the model's own ``Config`` dataclass (latent size, loss variant, learning rate…). Both are
saved, fully resolved, in every run's ``config.json`` so the run can be rebuilt without guessing.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import BadInputError, unknown

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
# A recipe in bf16-mixed may carry, under this key, the settings that replace its own where its bf16
# does not run (bf16 emulated, or another --precision given): the steps that fit the same budget in
# fp32, and what goes with them (configure.apply_preset).
FP32 = "fp32"
ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")
NAN_POLICIES = ("stop", "skip")
LOGGERS = ("csv", "tensorboard")


def choice(default: str, choices: tuple[str, ...], help: str = "") -> Any:
    """A string field restricted to ``choices`` (checked by :func:`coerce`)."""
    return field(default=default, metadata={"choices": choices, "help": help})


@dataclass
class TrainConfig:
    """Settings every family shares. Model-specific settings live in ``model_args``."""

    model: str = ""  # registry name, e.g. "wgan-gp"
    data: str = ""  # dataset spec, e.g. "grid25" or "folder:imgs/"
    steps: int = 2000  # generator (or model) updates
    batch_size: int = 64  # global batch; split evenly over devices
    lr: float = 0.0  # 0 = the model's own default
    seed: int = 0  # seeds weights, batches and noise; same seed, same run
    image_size: int = 0  # 0 = the dataset's native size
    root: str = ""  # where torchvision datasets live
    download: bool = False  # allow torchvision downloads into root
    cache_dir: str = ""  # where image folders are cached once decoded ("" = $GENLAB_CACHE or ~/.cache/genlab/cache)
    accelerator: str = choice("auto", ACCELERATORS)  # passed to Lightning Fabric
    devices: int = 1  # >1 runs DDP (one process per device)
    num_nodes: int = 1  # machines of a multi-node run (launched by torchrun or SLURM, one rendezvous)
    rendezvous_timeout: float = 300.0  # seconds the processes of a data-parallel run wait for each other to join
    precision: str = choice("32-true", PRECISIONS)  # Fabric precision
    compile: bool = False  # torch.compile the networks (inductor: needs a C++ compiler on CPU)
    channels_last: bool = False  # conv nets and image batches in channels-last memory format
    ema: bool = False  # keep an exponential moving average of the generator
    ema_decay: float = 0.999  # EMA decay per step, warmed up: min(decay, (1 + n) / (10 + n)) after n steps
    sample_every: int = 500  # write a sample grid / scatter every N steps (0 = only at the end)
    log_every: int = 10  # append a metrics.csv row every N steps
    ckpt_every: int = 1000  # checkpoint every N steps (and always at the end)
    keep_last: int = 3  # checkpoints kept under checkpoints/
    nan_policy: str = choice("stop", NAN_POLICIES)  # on a NaN/Inf loss: stop the run or skip the batch
    max_grad_norm: float = 1e6  # a gradient norm above this counts as divergence
    logger: str = choice("csv", LOGGERS)  # metrics.csv always; "tensorboard" adds RUN/tensorboard event files
    model_args: dict = field(default_factory=dict)  # the model's Config, resolved

    def validate(self) -> None:
        checks = [
            (self.steps > 0, f"steps must be a positive integer, got {self.steps}"),
            (self.batch_size > 0, f"batch_size must be a positive integer, got {self.batch_size}"),
            (self.lr >= 0, f"lr must be >= 0 (0 = model default), got {self.lr}"),
            (self.devices > 0, f"devices must be a positive integer, got {self.devices}"),
            (self.num_nodes > 0, f"num_nodes must be a positive integer, got {self.num_nodes}"),
            (self.rendezvous_timeout > 0, f"rendezvous_timeout must be > 0 seconds, got {self.rendezvous_timeout}"),
            (self.image_size == 0 or 4 <= self.image_size <= 512,
             f"image_size must be between 4 and 512 (or 0 for native), got {self.image_size}"),
            (0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (self.sample_every >= 0 and self.log_every > 0 and self.ckpt_every > 0,
             "sample_every must be >= 0 and log_every, ckpt_every > 0"),
            (self.keep_last > 0, f"keep_last must be a positive integer, got {self.keep_last}"),
            (self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}"),
            (self.devices <= 0 or self.batch_size % self.devices == 0,  # devices <= 0 is reported above
             f"batch_size {self.batch_size} must be divisible by devices {self.devices}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise BadInputError(msg)
        if self.logger == "tensorboard":  # checked here, before a run folder is created
            from genlab.report.loggers import MISSING_TENSORBOARD, tensorboard_available

            if not tensorboard_available():
                raise BadInputError(MISSING_TENSORBOARD)


# ----------------------------------------------------------------------------- coercion


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def coerce(f: dataclasses.Field, value: Any, *, where: str = "") -> Any:
    """Check/convert ``value`` for dataclass field ``f``; raise a one-line error if it does not fit."""
    tp = f.type if not isinstance(f.type, str) else _resolve(f.type)
    name = f"{where}{f.name}"
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, bool):
                out = value
            elif isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                out = value.lower() in ("true", "1", "yes")
            else:
                raise TypeError
        elif tp is int:
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
                raise TypeError
            out = int(value)
        elif tp is float:
            if isinstance(value, str) and value.strip().lower() not in ("nan", "inf", "-inf", "infinity"):
                value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as text; ValueError -> the error below
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            out = float(value)
            if out != out or out in (float("inf"), float("-inf")):
                raise TypeError
        elif tp is str:
            if not isinstance(value, str):
                raise TypeError
            out = value
        elif origin is tuple:
            args = typing.get_args(tp)
            if not isinstance(value, (list, tuple)) or len(value) != len(args):
                raise TypeError
            out = tuple(_scalar(a, v) for a, v in zip(args, value))
        elif tp is dict or origin is dict:
            if not isinstance(value, dict):
                raise TypeError
            out = dict(value)
        else:  # pragma: no cover - a field type we do not support is a bug
            raise RuntimeError(f"unsupported config type {tp!r} for {name}")
    except (TypeError, ValueError, OverflowError):  # OverflowError: float(10**400)
        raise BadInputError(f"{name}={value!r} is not a valid {_type_name(tp)}") from None
    choices = f.metadata.get("choices")
    if choices and out not in choices:
        raise BadInputError(f"{name}={out!r} is not allowed; valid: {', '.join(choices)}")
    return out


def _scalar(tp: type, v: Any) -> Any:
    if tp is float and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if tp is int and isinstance(v, int) and not isinstance(v, bool):
        return v
    if tp is str and isinstance(v, str):
        return v
    raise TypeError


def _resolve(tp: str) -> Any:
    ns = {"int": int, "float": float, "str": str, "bool": bool, "dict": dict, "tuple": tuple}
    return eval(tp, {"__builtins__": {}}, ns)  # noqa: S307 - only our own annotations


def parse_value(text: str) -> Any:
    """Parse the right-hand side of ``--set key=value`` with YAML scalars (1e-4, true, [0, 0.9])."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def fields_of(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def build_dataclass(cls: type, values: dict, *, where: str = "") -> Any:
    """Instantiate ``cls`` from ``values`` with every value type-checked; unknown keys are an error."""
    fs = fields_of(cls)
    bad = [k for k in values if k not in fs]
    if bad:
        raise unknown("option", f"{where}{bad[0]}", [f"{where}{k}" for k in fs])
    return cls(**{k: coerce(fs[k], v, where=where) for k, v in values.items()})


def split_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["a=1", "loss=minimax"]`` -> ``{"a": 1, "loss": "minimax"}``; a pair without '=' is an error."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInputError(f"--set expects key=value, got {pair!r}")
        out[key.removeprefix("model.").removeprefix("model_args.")] = parse_value(val)
    return out


def load_yaml(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise BadInputError(f"config file {str(p)!r} is not valid YAML ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise BadInputError(f"config file {str(p)!r} must hold a mapping of key: value")
    flat = {k: v for k, v in data.items() if k != "model_args"}
    nested = data.get("model_args") or {}
    if not isinstance(nested, dict):
        raise BadInputError(f"config file {str(p)!r}: model_args must hold a mapping of key: value")
    flat.update(nested)
    return flat


def resolve(model_cls: type, values: dict[str, Any]) -> TrainConfig:
    """Sort flat ``values`` into TrainConfig fields and the model's Config; type-check both."""
    train_fields = fields_of(TrainConfig)
    model_fields = fields_of(model_cls.Config)
    nested = values.pop("model_args", {}) or {}
    if not isinstance(nested, dict):
        raise BadInputError(f"model_args must be a mapping of key: value, got {nested!r}")
    owners = _game_setting_owners() if "game" in model_fields else {}
    train_vals, model_vals, game_vals = {}, dict(nested), {}
    for k, v in values.items():
        if k in train_fields and k != "model_args":
            train_vals[k] = v
        elif k in model_fields and k != "game":
            model_vals[k] = v
        elif k in owners:  # a game's own setting (lsgan's a, wgan-gp's gp_weight), kept in "game"
            game_vals[k] = v
        else:
            valid = {n for n in train_fields if n != "model_args"} | set(model_fields) - {"game"} | set(owners)
            raise unknown("option", k, valid)
    if owners:
        model_vals["game"] = _game_settings(model_cls, model_vals, game_vals, owners)
    cfg = build_dataclass(TrainConfig, train_vals)
    mcfg = build_dataclass(model_cls.Config, model_vals)
    if hasattr(mcfg, "validate"):
        mcfg.validate()
    cfg.model_args = dataclasses.asdict(mcfg)
    cfg.validate()
    return cfg


def _game_setting_owners() -> dict:
    from genlab import games

    return games.setting_owners()


def _game_settings(model_cls: type, model_vals: dict, given: dict, owners: dict) -> dict:
    """The settings of the game the model plays, type-checked, from a saved ``game`` mapping and
    the flat keys given. Another game's setting is refused unless it is at its default (what a
    saved or fully resolved configuration repeats), so nothing given is silently ignored."""
    from genlab import games

    loss = model_vals.get("loss") or fields_of(model_cls.Config)["loss"].default
    active = games.canonical(loss) if isinstance(loss, str) else loss
    saved = model_vals.get("game") or {}
    if not isinstance(saved, dict):
        raise BadInputError(f"game must be a mapping of the game's settings, got {saved!r}")
    settings = games.GAMES[active].settings if isinstance(active, str) and active in games.GAMES else None
    own = fields_of(settings) if settings else {}
    kept = {}
    for k, v in {**saved, **given}.items():
        if k in own:
            kept[k] = v
        elif k in owners and v == owners[k][1]:
            continue
        elif k in owners:
            owner = owners[k][0]
            raise BadInputError(f"{k} is a setting of the {owner} game, and this run plays loss={active!r}; drop it "
                                f"or choose that game with --set loss={owner}")
        else:
            raise unknown("game setting", k, own)
    return dataclasses.asdict(build_dataclass(settings, kept)) if settings else {}

