"""The EMA's warm-up: closed-form weights after a few updates, long runs at the configured decay."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from genlab.training.trainer import warmed_ema


def averaged_after(values: list[float], decay: float) -> float:
    net = nn.Linear(1, 1, bias=False)
    ema = AveragedModel(net, use_buffers=True, multi_avg_fn=warmed_ema(decay))
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
    ema = AveragedModel(net, use_buffers=True, multi_avg_fn=warmed_ema(0.9))
    for _ in range(3):
        net(torch.randn(4, 2))
        ema.update_parameters(net)
    assert int(ema.module[1].num_batches_tracked) == int(net[1].num_batches_tracked) == 3
