"""scripts/fd_sensitivity.py: real images after known damage, scored against the FD floor."""

from __future__ import annotations

import json
import runpy
import sys

import pytest
import torch

from conftest import ROOT


def _module():
    return runpy.run_path(str(ROOT / "scripts" / "fd_sensitivity.py"))


def test_each_damage_does_what_its_name_says():
    d = _module()["damages"]()
    flat = torch.full((2, 3, 8, 8), 0.25)
    assert torch.allclose(d["blur_3x3"](flat), flat)  # a blur leaves a flat image as it is
    assert torch.allclose(d["resize_16_32"](torch.full((2, 3, 32, 32), 0.25)), torch.full((2, 3, 32, 32), 0.25))
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    for sigma in ("0.01", "0.1"):
        residual = d[f"noise_{sigma}"](x) - x
        assert residual.std().item() == pytest.approx(float(sigma), rel=0.05)
        assert torch.equal(d[f"noise_{sigma}"](x), d[f"noise_{sigma}"](x))  # deterministic
    assert torch.allclose(d["contrast_0.9"](x), 0.9 * x)
    assert torch.equal(d["channels_rotated"](x)[:, 1], x[:, 0])
    grey = x.mean(1, keepdim=True)
    assert torch.allclose(d["saturation_0.7"](x) - grey, 0.7 * (x - grey), atol=1e-6)
    point = torch.zeros(1, 1, 5, 5)
    point[..., 2, 2] = 1.0
    spread = d["blur_3x3"](point)[0, 0]
    assert spread[2, 2].item() == pytest.approx(4 / 16) and spread[1, 1].item() == pytest.approx(1 / 16)


def test_damage_moves_the_fd_above_the_floor_and_more_noise_moves_it_further(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["fd_sensitivity.py", "--data", "shapes", "--n", "300"])
    runpy.run_path(str(ROOT / "scripts" / "fd_sensitivity.py"), run_name="__main__")
    out = json.loads(capsys.readouterr().out)
    floor, damaged = out["floor"], out["damaged"]
    assert out["n"] == 300 and floor > 0
    assert damaged["blur_3x3"]["fd"] > 5 * floor
    assert damaged["noise_0.01"]["fd"] < damaged["noise_0.03"]["fd"] < damaged["noise_0.1"]["fd"]
    assert damaged["noise_0.1"]["x_floor"] == pytest.approx(damaged["noise_0.1"]["fd"] / floor, rel=0.01)
