"""Model registry: name -> class. Filled by explicit imports so the CLI can list choices."""

import dataclasses

from genlab.errors import unknown
from genlab.models.autoencoder import VAE, Autoencoder
from genlab.models.base import DataInfo, GenerativeModel
from genlab.models.conditional import CGAN, CVAE
from genlab.models.cyclegan import CycleGAN
from genlab.models.gan import GAN, LSGAN, WGANGP

MODELS: dict[str, type[GenerativeModel]] = {
    "ae": Autoencoder,
    "vae": VAE,
    "gan": GAN,
    "lsgan": LSGAN,
    "wgan-gp": WGANGP,
    "cgan": CGAN,
    "cvae": CVAE,
    "cyclegan": CycleGAN,
}


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


__all__ = ["MODELS", "DataInfo", "GenerativeModel", "build_model", "data_info", "model_class"]
