"""The EMA's warm-up: closed-form weights after a few updates, long runs at the configured decay."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genlab.training.ema import EMA


def averaged_after(values: list[float], decay: float) -> float:
    net = nn.Linear(1, 1, bias=False)
    ema = EMA(net, decay)
    for v in values:
        with torch.no_grad():
            net.weight.fill_(v)
        ema.update_parameters(net)
    return float(ema.module.weight.detach())


def test_first_updates_follow_the_warm_up():
    # update 0 copies; update n >= 1 keeps d = min(decay, (1 + n) / (10 + n)) of the average
    d1 = 2 / 11
    assert abs(averaged_after([1.0, 0.0], 0.999) - d1) < 1e-6
    d2 = 3 / 12
    assert abs(averaged_after([1.0, 0.0, 0.0], 0.999) - d1 * d2) < 1e-6


def test_the_decay_caps_the_warm_up():
    # with decay 0.1 the warm-up value (2/11 > 0.1) is capped: plain EMA with 0.1
    assert abs(averaged_after([1.0, 0.0], 0.1) - 0.1) < 1e-6


def test_integer_buffers_are_copied():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(net, 0.9)
    for _ in range(3):
        net(torch.randn(4, 2))
        ema.update_parameters(net)
    assert int(ema.module[1].num_batches_tracked) == int(net[1].num_batches_tracked) == 3


def test_past_the_warm_up_it_is_torchs_ema_bit_for_bit():
    # decay 0.1 < every warm-up value (2/11 at n = 1): the update is AveragedModel's plain EMA, exactly
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    ours = EMA(net, 0.1)
    ref = AveragedModel(net, use_buffers=True, multi_avg_fn=get_ema_multi_avg_fn(0.1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        net(torch.randn(8, 3)).pow(2).mean().backward()
        opt.step()
        ours.update_parameters(net)
        ref.update_parameters(net)
    floats = [(a, b) for a, b in zip(ours.module.state_dict().values(), ref.module.state_dict().values())
              if a.is_floating_point()]
    assert len(floats) == 8 and all(torch.equal(a, b) for a, b in floats)  # 6 parameters, BN mean and var
    assert int(ours.n_averaged) == int(ref.n_averaged) == 5
