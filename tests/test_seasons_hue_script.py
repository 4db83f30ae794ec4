"""scripts/seasons_hue.py's background statistic: which map of the background level a seasons
translator learned (1: the true one, -1: the mirrored one, 0: a level not read from the input)."""

from __future__ import annotations

import runpy

import pytest
import torch

from conftest import ROOT


def test_background_fit_reads_the_true_the_mirrored_and_an_unread_level():
    from genlab.data import translation as T

    fit = runpy.run_path(str(ROOT / "scripts" / "seasons_hue.py"))["background_fit"]
    shapes = torch.from_numpy(T.draw_shapes(200, T.SHAPES_NATIVE_SIZE, 5)[0])
    alpha, _, _, bg = T._parts(shapes)
    truth = T.summer(shapes)
    assert fit(truth, truth, alpha) == pytest.approx([1.0, 1.0], abs=1e-3)
    # grass drawn from the mirrored level (bg -> 0.25 - bg): the same spread, the opposite order
    mirrored = T.summer(shapes) - 0.8 * bg + 0.8 * (0.25 - bg)
    assert fit(mirrored, truth, alpha) == pytest.approx([-1.0, -1.0], abs=1e-3)
    # a level drawn without reading the input's: no correlation in expectation
    g = torch.Generator().manual_seed(0)
    unread = truth + 0.8 * (torch.rand(200, 1, 1, 1, generator=g) * 0.25 - bg)
    corr, slope = fit(unread, truth, alpha)
    assert abs(corr) < 0.3 and abs(slope) < 0.3, (corr, slope)


@pytest.mark.parametrize("domain", ["summer", "winter"])
def test_shape_fit_reads_the_true_the_mirrored_and_the_swapped_colour_map(domain):
    from unittest import mock

    from genlab.data import translation as T

    fit = runpy.run_path(str(ROOT / "scripts" / "seasons_hue.py"))["shape_fit"]
    shapes = torch.from_numpy(T.draw_shapes(200, T.SHAPES_NATIVE_SIZE, 5)[0])
    parts = T._parts
    alpha = parts(shapes)[0]
    draw = getattr(T, domain)

    def drawn_with(change):
        with mock.patch.object(T, "_parts", lambda s: change(*parts(s))):
            return draw(shapes)

    truth = draw(shapes)
    out = fit(truth, truth, alpha, domain)
    assert out["hue"] == pytest.approx([1.0, 1.0], abs=1e-3)
    assert out["brightness"] == pytest.approx([1.0, 1.0], abs=1e-3)
    # the hue mirrored (g -> 1 - g), brightness kept
    out = fit(drawn_with(lambda a, m, g, bg: (a, m, 1 - g, bg)), truth, alpha, domain)
    assert out["hue"] == pytest.approx([-1.0, -1.0], abs=1e-3)
    assert out["brightness"] == pytest.approx([1.0, 1.0], abs=1e-3)
    # hue and brightness exchanged (each rescaled to the other's range): neither is read as
    # itself, and each is read as the other (|correlation| well above the two ordinary ones)
    out = fit(drawn_with(lambda a, m, g, bg: (a, 0.6 + 0.4 * g, (m - 0.6) / 0.4, bg)), truth, alpha, domain)
    swapped = [abs(c) for c in out["swapped"]]
    assert min(swapped) > 0.9, out
    assert max(abs(out["hue"][0]), abs(out["brightness"][0])) < min(swapped) - 0.3, out
