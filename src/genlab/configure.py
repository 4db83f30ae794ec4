"""One resolution of a run's settings, used by train, compare and resume: the user's layers
(a YAML file, options, ``--set`` pairs) over the family's recipe for the data (its presets),
checked; and, on resume, the saved run's settings with only what may change changed.
Settings a run would not read are refused, so config.json records what ran."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from genlab import games
from genlab.config import FP32, TrainConfig, resolve
from genlab.errors import BadInputError
from genlab.models import model_class


# Settings a resumed run may change; everything else must match the saved run.
RESUMABLE = ("steps", "accelerator", "devices", "num_nodes", "rendezvous_timeout", "precision", "compile", "channels_last",
             "sample_every", "log_every", "ckpt_every", "keep_last", "nan_policy", "max_grad_norm", "logger", "root",
             "download", "cache_dir")


def resolve_config(model: str, data: str, settings: dict, *, kind: str | None = None) -> TrainConfig:
    """The configuration ``train`` runs for ``settings`` (flat: a YAML file's keys, options, --set
    pairs): the user's settings over the family's defaults for the kind of data (``kind``: read
    from the data when None, "" for none), with the data's paths made absolute. ``genlab
    compare`` and the benchmark scripts resolve through here, so they train what ``train`` trains."""
    cls = model_class(model)
    values = with_model_and_data(settings, model, data)
    cfg = resolve(cls, dict(values))
    if kind is None:
        kind = data_kind(cfg)
    cfg = apply_preset(cls, values, kind) or cfg
    if kind:
        check_settings(cls, cfg, kind)
        check_used(cls, cfg, kind, set(values) | set(values.get("model_args") or {}))
    return cfg


def check_used(cls, cfg: TrainConfig, kind: str, given: set[str]) -> None:
    """A setting the user gave that this run would not read (DiffAugment on vectors; a game's own
    settings under another game are refused by the resolution itself) is refused, so config.json
    records only what ran."""
    args = cfg.model_args
    if "augment" in given and args.get("augment") and kind == "vector":
        raise BadInputError(f"augment={args['augment']!r} (DiffAugment) is for image critics; {cfg.data!r} holds "
                            f"vectors (drop --set augment)")


def data_kind(cfg: TrainConfig) -> str:
    """"vector", "image" or "unpaired": the kind of ``cfg``'s data, as its dataset declares it
    (nothing is loaded; an unknown name is reported by the data's own check)."""
    from genlab.data import DATASETS, load_data, parse_spec

    spec = DATASETS.get(parse_spec(cfg.data)[0])
    if spec is None:  # load_data says what is valid
        load_data(cfg.data)
    return spec.kind


def with_model_and_data(settings: dict, model: str, data: str) -> dict:
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
    if kind not in cls.data_kinds:
        names = {"vector": "vectors", "image": "images", "unpaired": "two unpaired image domains"}
        raise BadInputError(f"{cfg.model} trains on {' or '.join(names[k] for k in cls.data_kinds)}; {cfg.data!r} "
                            f"holds {names.get(kind, kind)}")
    if cfg.image_size and kind == "vector":
        raise BadInputError(f"--image-size is for image data; {cfg.data!r} holds vectors (drop --image-size)")
    if cfg.ema and cls.ema_part is None:
        raise BadInputError(f"--ema is not available for {cfg.model!r}: it has no single generator to average; "
                            f"drop --ema")
    if cfg.precision == "16-mixed" and runs_on_cpu(cfg.accelerator):
        raise BadInputError("--precision 16-mixed needs a CUDA GPU (on the CPU it would run as bf16-mixed); "
                            "use --precision bf16-mixed or 32-true")
    mcfg = cls.Config(**cfg.model_args)
    if hasattr(mcfg, "validate_batch"):  # a model setting that constrains the final batch (PacGAN's pack)
        mcfg.validate_batch(cfg.batch_size // (cfg.devices * cfg.num_nodes))


def runs_on_cpu(accelerator: str) -> bool:
    import torch

    if accelerator == "cpu":
        return True
    mps = getattr(torch.backends, "mps", None)
    return accelerator == "auto" and not torch.cuda.is_available() and not (mps is not None and mps.is_available())


def native_bf16(accelerator: str) -> bool:
    """Whether bf16 arithmetic is native where ``accelerator`` puts the run: a CPU with AVX-512
    BF16 or AMX tiles, or a CUDA GPU that supports it. A recipe's ``precision: bf16-mixed`` applies
    only there; elsewhere (where bf16 would be emulated, and slower) the run stays in 32-true."""
    import torch

    if runs_on_cpu(accelerator):
        return any(getattr(torch.cpu, name, lambda: False)()
                   for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return accelerator in ("auto", "cuda", "gpu") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def apply_preset(cls, values: dict, kind: str) -> TrainConfig | None:
    """Defaults a family uses on one kind of data (``cls.presets[kind]``) and on one dataset
    (``cls.presets[name]``, over the kind's), below anything the user set: e.g. the 2-D settings
    of a paper's toy experiments rather than its image ones, or a recipe tuned on mnist5k."""
    from genlab.data import parse_spec

    from genlab import games

    presets = cls.presets
    name = parse_spec(str(values.get("data", "")))[0] if values.get("data") else ""
    preset = {**presets.get(kind, {}), **(presets.get(name, {}) if kind else {})}
    fp32 = preset.pop(FP32, {})
    nested = values.get("model_args") or {}
    given = set(values) | set(nested) | set(nested.get("game") or {})
    extra = {k: v for k, v in preset.items() if k not in given}
    if preset.get("precision") == "bf16-mixed":
        bf16 = (values["precision"] == "bf16-mixed" if "precision" in values
                else native_bf16(values.get("accelerator", "auto")))
        # a recipe sized with bf16 steps, where bf16 is emulated or the user chose another precision,
        # trains in that precision with its fp32 settings (fewer steps) in place of the bf16 ones
        if not bf16:
            extra.pop("precision", None)
            extra |= {k: v for k, v in fp32.items() if k not in given}
    if extra.keys() & games.setting_owners().keys():  # a recipe's game setting, for the game it was tuned with
        loss = values.get("loss") or nested.get("loss") or dataclasses.fields(cls.Config)
        loss = loss if isinstance(loss, str) else {f.name: f.default for f in loss}["loss"]
        own = games.settings_of(loss)
        mine = {f.name for f in dataclasses.fields(own)} if own is not None else set()
        extra = {k: v for k, v in extra.items() if k not in games.setting_owners() or k in mine}
    return resolve(cls, {**values, **extra}) if extra else None


def resume_config(saved: dict, values: dict, cls) -> TrainConfig:
    from genlab.data import resolve_spec

    train_saved = dict(saved["train"])
    if isinstance(train_saved.get("data"), str):  # runs that stored the data's paths as typed
        train_saved["data"] = resolve_spec(train_saved["data"])
    for key in ("model", "data"):
        if values.get(key) and values[key] != train_saved.get(key):
            shown = saved.get("data_as_typed", train_saved["data"]) if key == "data" else train_saved.get(key)
            raise BadInputError(f"cannot resume: the run was trained with {key} {shown!r}, not {values[key]!r}")
    changed = {k: v for k, v in values.items() if k not in ("model", "data")}
    args = saved["train"]["model_args"]
    was = {**{k: default for k, (_, default) in games.setting_owners().items()}, **(args.get("game") or {}), **args,
           **train_saved}  # a game's settings are kept in the model's game, at their defaults when not given
    bad = [k for k in changed if k not in RESUMABLE and changed[k] != was.get(k)]
    if bad:
        raise BadInputError(f"cannot change {bad[0]!r} when resuming; only {', '.join(RESUMABLE)} may change")
    merged = {**{k: v for k, v in train_saved.items() if k != "model_args"}, **{k: changed[k] for k in changed if k in RESUMABLE}}
    merged["model_args"] = saved["train"]["model_args"]
    return resolve(cls, merged)


def check_same_data(out: Path, saved: dict, data) -> None:
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
