"""Model registry: name -> class. Filled by explicit imports so the CLI can list choices."""

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

__all__ = ["MODELS", "DataInfo", "GenerativeModel"]
