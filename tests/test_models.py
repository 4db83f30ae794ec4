"""The shared suite: every model in MODELS gets these checks for free."""

from __future__ import annotations

import pytest
import torch

from genlab.config import resolve
from genlab.models import MODELS, DataInfo
from genlab.training.trainer import set_trainable

SMALL = {"width": 8, "hidden": 32, "latent_dim": 4}


def infos_for(cls) -> list[DataInfo]:
    kinds = cls.data_kinds
    k = 3 if cls.conditional else 0
    shapes = {"vector": (2,), "image": (1, 8, 8), "unpaired": (3, 16, 16)}
    return [DataInfo(kind=kind, shape=shapes[kind], num_classes=k) for kind in kinds]


CASES = [(name, info) for name, cls in MODELS.items() for info in infos_for(cls)]
IDS = [f"{n}-{i.kind}" for n, i in CASES]


def build(name: str, info: DataInfo, seed: int = 0):
    cls = MODELS[name]
    fields = {f for f in cls.Config.__dataclass_fields__}
    cfg = resolve(cls, {k: v for k, v in SMALL.items() if k in fields})
    torch.manual_seed(seed)
    return cls(cls.Config(**cfg.model_args), info)


def make_batch(info: DataInfo, n: int = 8) -> dict:
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n, *info.shape, generator=g) * 2 - 1)
    batch = {"x": x, "y": torch.arange(n) % info.num_classes if info.num_classes else None}
    if info.kind == "unpaired":
        batch["x_b"] = torch.rand(n, *info.shape, generator=g) * 2 - 1
    return batch


@pytest.mark.parametrize(("name", "info"), CASES, ids=IDS)
def test_every_phase_has_a_finite_loss_and_trains_only_its_parts(name, info):
    model = build(name, info)
    model.train()
    batch = make_batch(info)
    for phase in model.phases:
        model.zero_grad(set_to_none=True)
        set_trainable(model, phase)
        loss, logs = model.loss(phase, batch)
        assert loss.dim() == 0 and torch.isfinite(loss), (phase, loss)
        # logs stay on the device (read once per logged step): detached 0-dim tensors
        assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad for v in logs.values())
        loss.backward()
        mine = {id(p) for p in model.phase_parameters(phase)}
        params = model.phase_parameters(phase)
        # every parameter of the phase is reached (a critic's output bias can get an exactly-zero
        # gradient under the Wasserstein loss, so "reached" means a gradient exists)
        assert all(p.grad is not None for p in params), f"{phase}: gradients miss some of its parameters"
        assert sum(p.grad.abs().sum() > 0 for p in params) > 0.6 * len(params)
        others = [n for n, p in model.named_parameters() if id(p) not in mine and p.grad is not None]
        assert not others, f"phase {phase} leaked gradients into {others[:3]}"


@pytest.mark.parametrize(("name", "info"), CASES, ids=IDS)
def test_sample_shape_and_range(name, info):
    model = build(name, info)
    x = model.sample(5)
    assert x.shape == (5, *info.shape)
    assert torch.isfinite(x).all()
    if info.is_image:
        assert x.min() >= -1 and x.max() <= 1
    assert model.training, "sample() must restore training mode"


@pytest.mark.parametrize(("name", "info"), CASES, ids=IDS)
def test_sampling_is_reproducible_and_random(name, info):
    model = build(name, info)
    torch.manual_seed(3)
    a = model.sample(4)
    torch.manual_seed(3)
    b = model.sample(4)
    torch.manual_seed(4)
    c = model.sample(4)
    assert torch.equal(a, b)
    if name != "cyclegan":
        assert not torch.equal(a, c)


@pytest.mark.parametrize(("name", "info"), CASES, ids=IDS)
def test_latent_decodes_the_codes_sample_draws(name, info):
    """``latent()`` maps standard Gaussian codes to the samples ``sample()`` makes from them;
    models whose samples need more than a code (a class, an input image) have none."""
    model = build(name, info)
    latent = model.latent()
    if model.conditional or info.kind == "unpaired":
        assert latent is None
        return
    torch.manual_seed(3)
    want = model.sample(5)
    torch.manual_seed(3)
    z = torch.randn(5, latent.dim)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(latent.decode(z), want, atol=1e-6)


def test_data_net_reads_the_data_shape():
    from genlab.nets import MLP, ConvDecoder, ConvEncoder, data_net

    class Sizes:
        width, hidden, depth = 4, 8, 2

    assert isinstance(data_net((1, 8, 8), 3, Sizes), ConvEncoder)
    assert isinstance(data_net((1, 8, 8), 3, Sizes, to_data=True), ConvDecoder)
    assert data_net((1, 8, 8), 3, Sizes)(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
    assert data_net((1, 8, 8), 3, Sizes, to_data=True)(torch.zeros(2, 3)).shape == (2, 1, 8, 8)
    net = data_net((5,), 3, Sizes, to_data=True, mlp_norm="batch")
    assert isinstance(net, MLP) and net(torch.zeros(2, 3)).shape == (2, 5)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in net.modules())
    assert data_net((5,), 3, Sizes)(torch.zeros(2, 5)).shape == (2, 3)


@pytest.mark.parametrize("name", list(MODELS))
def test_optimizers_cover_each_phase(name):
    cls = MODELS[name]
    model = build(name, infos_for(cls)[0])
    opts = model.configure_optimizers()
    assert set(opts) == set(model.phases)
    for phase, opt in opts.items():
        params = {id(p) for g in opt.param_groups for p in g["params"]}
        assert params == {id(p) for p in model.phase_parameters(phase)}


def test_wgan_gp_defaults_follow_the_paper():
    model = build("wgan-gp", DataInfo("image", (1, 8, 8)))
    assert model.repeats() == {"d": 5, "g": 1}
    opt = model.configure_optimizers()["d"]
    assert opt.param_groups[0]["lr"] == 1e-4 and opt.param_groups[0]["betas"] == (0.0, 0.9)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.D.modules())


def test_gan_loss_choice_changes_generator_loss():
    info = DataInfo("vector", (2,))
    ns, mm = build("gan", info), build("gan", info)
    mm.cfg.loss = "minimax"
    batch = make_batch(info)
    torch.manual_seed(0)
    l_ns, _ = ns.loss("g", batch)
    torch.manual_seed(0)
    l_mm, _ = mm.loss("g", batch)
    assert l_ns.item() > 0 > l_mm.item()  # softplus(-f) > 0; -softplus(f) < 0


def test_vae_kl_and_reconstruction_terms():
    model = build("vae", DataInfo("vector", (2,)))
    batch = make_batch(DataInfo("vector", (2,)))
    torch.manual_seed(0)
    loss, logs = model.loss("model", batch)
    assert loss.item() == pytest.approx(float(logs["recon"] + logs["kl"]), rel=1e-5)
    assert logs["kl"] >= 0


def test_iwae_bound_is_tighter_than_elbo_on_average():
    model = build("vae", DataInfo("vector", (2,)))
    model.eval()
    x = make_batch(DataInfo("vector", (2,)), 64)["x"]
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = model.log_weights(x, 1).mean()
        iw = (torch.logsumexp(model.log_weights(x, 50), 1) - torch.log(torch.tensor(50.0))).mean()
    assert iw >= elbo


@pytest.mark.parametrize(("name", "info"), CASES, ids=IDS)
def test_weights_round_trip_through_a_run_file(name, info, tmp_path):
    """state_dict -> model.safetensors (as runs save it) -> a fresh model: the same outputs."""
    from genlab.runs import WEIGHTS
    from genlab.training.checkpoint import load_weights, save_checkpoint

    model = build(name, info, seed=0)
    model.train()
    model.loss(model.phases[0], make_batch(info))  # buffers that training moves (BatchNorm, pools)
    save_checkpoint(tmp_path, model.state_dict(), {}, 1)
    weights, step = load_weights(tmp_path / WEIGHTS)
    other = build(name, info, seed=1)
    other.load_state_dict(weights)
    assert step == 1
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    torch.manual_seed(3)
    x = model.eval().sample(4, y=torch.arange(4) % 3 if model.conditional else None)
    torch.manual_seed(3)
    assert torch.equal(x, other.eval().sample(4, y=torch.arange(4) % 3 if other.conditional else None))


@pytest.mark.parametrize(("name", "info"), CASES, ids=IDS)
def test_declared_capabilities_work_and_the_others_refuse(name, info):
    """What a family declares (reconstructs, has_likelihood, translates, a critic, a latent) is
    there; what it does not declare refuses in one line, so callers never probe for methods."""
    from genlab.errors import BadInputError

    model = build(name, info).eval()
    x = make_batch(info, n=4)["x"]
    calls = {"reconstructs": lambda: model.reconstruct(x), "has_likelihood": lambda: model.log_weights(x, 2),
             "translates": lambda: model.translate(x, "a2b")}
    for flag, call in calls.items():
        if getattr(type(model), flag):
            out = call()
            assert out.shape[0] == 4 and torch.isfinite(out).all(), flag
        else:
            with pytest.raises(BadInputError):
                call()
    lat = model.latent()
    assert lat is None or lat.decode(torch.zeros(2, lat.dim)).shape == (2, *info.shape)
    if model.critic is not None:
        y = torch.arange(4) % 3 if model.conditional else None
        assert model.critic(x, y=y).shape[0] == 4 // model.critic_pack

