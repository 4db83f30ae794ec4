"""The training hot path: no host synchronisation in an update that is not logged, and the
divergence guard that works without one (fused Adam skips a bad update on the device)."""

from __future__ import annotations

import csv

import pytest
import torch

import genlab
from genlab.training import trainer as trainer_mod
from genlab.training.callbacks import Callback, HostLogs
from genlab.training.guard import Guard, fused, skips_on_device

# every way Python code reads a tensor's value on the host (each one waits for the device)
READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__")


class SyncCounter(Callback):
    """Counts host reads of tensor values, and the count after each step."""

    def __init__(self, monkeypatch):
        self.reads, self.after = 0, {}
        for name in READS:
            original = getattr(torch.Tensor, name)

            def counted(t, *args, _original=original, **kwargs):
                self.reads += 1
                return _original(t, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def on_step(self, trainer, step: int, logs) -> None:
        self.after[step] = self.reads


@pytest.fixture
def counter(monkeypatch):
    spy = SyncCounter(monkeypatch)
    original = trainer_mod.default_callbacks
    monkeypatch.setattr(trainer_mod, "default_callbacks", lambda **kw: [*original(**kw), spy])
    return spy


CASES = [
    ("gan", "grid25", {}),  # the 2-D recipe: BatchNorm in G, lr decay
    ("wgan-gp", "ring8", {}),  # gradient penalty, 5 critic updates
    ("lsgan", "ring8", {}),
    ("vae", "ring8", {}),
    ("ae", "ring8", {}),
    ("gan", "digits", {"augment": "color,translation,cutout", "width": 8}),  # uint8 images, DiffAugment
    ("cgan", "digits", {"width": 8}),
    ("cvae", "digits", {}),
    ("cyclegan", "seasons", {"width": 8, "blocks": 1, "pool_size": 40}),  # image pool, kept examples
]


@pytest.mark.parametrize("model,data,overrides", CASES, ids=[f"{m}-{d}" for m, d, _ in CASES])
def test_an_update_that_is_not_logged_reads_nothing_on_the_host(tmp_path, counter, model, data, overrides):
    steps, every = 12, 5
    genlab.train(model, data, out=tmp_path / "r", steps=steps, batch_size=32, seed=0, log_every=every,
                 sample_every=0, ckpt_every=100, ema=model in ("gan", "wgan-gp", "lsgan"), overrides=overrides)
    logged = {s for s in range(1, steps + 1) if s % every == 0 or s == steps}
    per_step = {s: counter.after[s] - counter.after.get(s - 1, counter.after[1]) for s in range(2, steps + 1)}
    quiet = {s: n for s, n in per_step.items() if s not in logged}
    assert quiet and all(n == 0 for n in quiet.values()), quiet
    # the logged steps do read (the metrics row): the counter sees reads when there are some
    assert all(per_step[s] > 0 for s in logged), per_step
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == sorted(logged)


def test_the_trainer_uses_fused_adam_and_its_device_side_skip():
    net = torch.nn.Linear(3, 1)
    opt = fused(torch.optim.Adam(net.parameters(), lr=0.1, betas=(0.5, 0.9)))
    assert skips_on_device(opt) and opt.param_groups[0]["betas"] == (0.5, 0.9) and opt.param_groups[0]["lr"] == 0.1
    sgd = torch.optim.SGD(net.parameters(), lr=0.1)
    assert fused(sgd) is sgd and not skips_on_device(sgd)


@pytest.mark.parametrize("make", [lambda ps: fused(torch.optim.Adam(ps, lr=0.1)), lambda ps: torch.optim.SGD(ps, lr=0.1)],
                         ids=["fused-adam", "sgd-host-check"])
def test_a_bad_update_leaves_weights_and_optimizer_state_untouched(make):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt, guard = make(list(net.parameters())), Guard(max_grad_norm=100.0)

    def update(step: int, scale: float) -> None:
        opt.zero_grad()
        loss = net(torch.randn(4, 3)).pow(2).mean() * scale
        loss.backward()
        gn = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))
        guard.step(opt, step, "model", loss, gn)

    update(0, 1.0)
    before = ({k: v.clone() for k, v in net.state_dict().items()},
              {i: {k: v.clone() for k, v in s.items()} for i, s in enumerate(opt.state.values())})
    update(1, float("nan"))  # NaN loss and gradients
    update(2, 1e9)  # a finite loss whose gradient norm is above max_grad_norm
    assert all(torch.equal(v, before[0][k]) for k, v in net.state_dict().items())
    for i, s in enumerate(opt.state.values()):
        assert all(torch.equal(v, before[1][i][k]) for k, v in s.items())
    update(3, 1.0)
    assert not torch.equal(net.weight, before[0]["weight"])
    verdicts = guard.drain()
    assert [v[0] for v in verdicts] == [False, True, True, False]
    assert verdicts[1][1].describe() == "loss is nan" and verdicts[2][1].what == "gradient norm"
    assert guard.drain() == []


def test_host_logs_are_read_once_when_a_callback_looks(monkeypatch):
    logs = HostLogs({"loss_d": torch.tensor(0.25), "loss_g": torch.tensor(2.0), "note": 3.0})
    reads = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda t: reads.append(1) or original(t))
    assert len(logs) == 3 and not reads  # nothing read yet
    assert dict(logs) == {"loss_d": 0.25, "loss_g": 2.0, "note": 3.0} and {**logs}["loss_g"] == 2.0
    assert len(reads) == 1


@pytest.mark.parametrize("data", ["digits", "mnist5k", "ring8"])
def test_a_set_placed_on_the_device_gives_the_host_batches_bit_for_bit(data):
    """A set that fits is copied to the device once and its batches are made there (uint8 pixels
    made float on the device): the same numbers as the host path. Checked with the CPU as the
    device; a set too large for the free memory stays on the host."""
    from genlab.data import load_data
    from genlab.training.batches import BatchSource

    source = load_data(data, seed=0).source("x")
    host = BatchSource(source, 32, seed=1, rank=0, world=1)
    placed = BatchSource(source, 32, seed=1, rank=0, world=1)
    assert placed.place(torch.device("cpu"), free_bytes=10**12) == "resident"
    small = BatchSource(source, 32, seed=1, rank=0, world=1)
    assert small.place(torch.device("cpu"), free_bytes=100) == "host" and small.resident is None
    for k in (0, 1, host.per_epoch + 3):  # across an epoch boundary
        a, b, c = host.batch(k), placed.batch(k), small.batch(k)
        assert a.dtype == b.dtype == torch.float32 and torch.equal(a, b) and torch.equal(a, c)
