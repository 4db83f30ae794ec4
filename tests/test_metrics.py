"""Known answers for the metrics: FD/KID/MMD/PRDC, the mode protocol, the shipped classifiers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genlab.errors import BadInputError, GenlabError
from genlab.metrics import METRICS, Score
from genlab.metrics import features as F
from genlab.metrics.images import class_scores, classifier_score, laplacian_variance, recon_scores, sharpness
from genlab.metrics.sets import frechet_distance, kernel_distance, mmd2, prdc
from genlab.metrics.toy2d import mode_scores


def gaussian(n: int, d: int, seed: int, *, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * std + mean


def standardised(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """A sample whose empirical mean and (unbiased) std are exactly ``mean`` and ``std``."""
    return (x - x.mean()) / x.std() * std + mean


def test_fd_of_two_1d_gaussians_is_analytic():
    x = standardised(gaussian(2000, 1, 0), 0.5, 1.0)
    y = standardised(gaussian(2000, 1, 1), -1.5, 2.5)
    # (mu1 - mu2)^2 + (sigma1 - sigma2)^2 = 4 + 2.25
    assert frechet_distance(x, y) == pytest.approx(6.25, abs=1e-6)


def test_fd_and_kid_vanish_on_identical_sets_and_grow_with_a_shift():
    x = gaussian(1500, 16, 0)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shifted = x + 0.5
    fd = frechet_distance(x, shifted)
    assert fd == pytest.approx(16 * 0.25, rel=1e-6)  # a pure shift: only the mean term
    kid_same, _ = kernel_distance(x, x, subsets=20, subset_size=1000)
    kid_shift, _ = kernel_distance(x, shifted, subsets=20, subset_size=1000)
    assert abs(kid_same) < 0.02 * kid_shift
    # two independent draws of one distribution: KID is unbiased, so about zero
    kid_iid, std = kernel_distance(x, gaussian(1500, 16, 7), subsets=20, subset_size=1000)
    assert abs(kid_iid) < 0.02 * kid_shift


def test_kid_is_reproducible_from_its_seed():
    x, y = gaussian(300, 4, 0), gaussian(300, 4, 1, mean=0.2)
    assert kernel_distance(x, y, subset_size=100, seed=3) == kernel_distance(x, y, subset_size=100, seed=3)


def test_mmd_matches_the_closed_form_for_shifted_gaussians():
    # k = exp(-d^2 / 2 s^2); x ~ N(0, v), y ~ N(mu, v): MMD^2 = 2 s / sqrt(s^2 + 2v) (1 - exp(-mu^2 / 2(s^2 + 2v)))
    s, v, mu = 1.0, 1.0, 1.0
    expected = 2 * s / math.sqrt(s * s + 2 * v) * (1 - math.exp(-mu * mu / (2 * (s * s + 2 * v))))
    value, sigmas = mmd2(gaussian(2000, 1, 0), gaussian(2000, 1, 1, mean=mu), bandwidths=[s])
    assert sigmas == [s]
    assert value == pytest.approx(expected, abs=0.035)  # 3.5 standard deviations of the estimator
    same, sigmas = mmd2(gaussian(2000, 2, 2), gaussian(2000, 2, 3))  # median heuristic
    # |x - y| for N(0, I_2) pairs is sqrt(2) x Rayleigh(1): median 2 sqrt(ln 2)
    assert abs(same) < 0.005 and sigmas[0] == pytest.approx(2 * math.sqrt(math.log(2)), rel=0.03)


def test_prdc_of_a_set_against_itself():
    x = gaussian(400, 8, 0)
    for k in (3, 5):
        s = prdc(x, x, k=k)
        assert s["precision"] == 1.0 and s["recall"] == 1.0 and s["coverage"] == 1.0
    far = prdc(x, x + 100.0, k=5)  # disjoint supports
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_three_of_eight_ring_modes_evenly():
    from genlab.data.toy2d import RING_STD, ring_centres

    modes = torch.tensor(ring_centres(), dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    covered = modes[[0, 3, 5]].repeat_interleave(100, dim=0) + 0.1 * RING_STD * torch.randn(300, 2, generator=g)
    off = torch.full((100, 2), 5.0)  # far from every mode: not high quality
    s = mode_scores(torch.cat([covered, off]), modes, RING_STD)
    assert s["modes"] == 3
    assert s["hq"] == pytest.approx(0.75)
    assert s["reverse_kl"] == pytest.approx(math.log(8 / 3), abs=1e-9)


def test_sharpness_and_class_scores():
    g = torch.Generator().manual_seed(0)
    sharp = torch.rand(20, 1, 16, 16, generator=g) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1)
    assert laplacian_variance(torch.zeros(3, 1, 8, 8)).eq(0).all()  # a flat image has no edges
    assert sharpness(sharp, sharp)["ratio"] == pytest.approx(1.0)
    assert sharpness(blurred, sharp)["ratio"] < 0.2
    even = class_scores(torch.arange(100) % 10, 10)
    assert even["coverage"] == 1.0 and even["entropy"] == pytest.approx(1.0)
    two = class_scores(torch.tensor([1] * 50 + [7] * 50), 10)
    assert two["coverage"] == pytest.approx(0.2) and two["entropy"] == pytest.approx(math.log(2) / math.log(10))


def test_recon_scores_perfect_and_known_error():
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    perfect = recon_scores(x, x.clone())
    assert perfect["recon_mse"] == 0.0 and perfect["ssim"] == pytest.approx(1.0) and math.isinf(perfect["psnr"])
    noisy = recon_scores(x, x + 0.1)  # MSE 0.01, range 2: PSNR = 10 log10(4 / 0.01) = 26.02 dB
    assert noisy["recon_mse"] == pytest.approx(0.01) and noisy["psnr"] == pytest.approx(26.0206, abs=1e-3)


@pytest.mark.parametrize("name,data", [("digits_cls", "digits"), ("mnist5k_cls", "mnist5k"), ("shapes_cls", "shapes")])
def test_shipped_classifier_checksum_size_and_held_out_accuracy(name, data):
    from genlab.data import load_data

    card = F.read_card(name)
    path = F.WEIGHTS_DIR / card["file"]
    assert path.stat().st_size < 2_000_000
    assert F.sha256_file(path) == card["sha256"]
    ex = F.load_classifier(name)
    assert ex.sha256 == card["sha256"] and ex.num_features == card["num_features"] == 128
    test = load_data(data, split="test")
    acc = float((ex.predict(test.x) == test.y).double().mean())
    assert acc == pytest.approx(card["test_accuracy"], abs=1e-4) and acc >= 0.97, f"{name}: held-out accuracy {acc:.3f}"
    assert ex.embed(test.x[:5]).shape == (5, 128)


def test_damaged_classifier_weights_are_refused(tmp_path, monkeypatch):
    card = F.read_card("digits_cls")
    (tmp_path / card["file"]).write_bytes((F.WEIGHTS_DIR / card["file"]).read_bytes()[:-8] + b"\0" * 8)
    (tmp_path / "digits_cls.json").write_text(json.dumps(card))
    monkeypatch.setattr(F, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(F.WeightsError, match="checksum"):
        F.load_classifier("digits_cls")


def test_inception_needs_a_valid_local_weights_file(tmp_path):
    with pytest.raises(BadInputError, match="--weights PATH"):
        F.get_extractor("inception")
    with pytest.raises(BadInputError, match="does not exist"):
        F.get_extractor("inception", weights=tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BadInputError, match="not an Inception-v3 weights file"):
        F.get_extractor("inception", weights=junk)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(BadInputError, match="not an Inception-v3 weights file"):
        F.get_extractor("inception", weights=wrong)
    with pytest.raises(GenlabError, match="valid: .*mnist5k_cls"):
        F.get_extractor("resnet")


def test_score_json_round_trip_keeps_infinity():
    s = Score(metric="reverse_kl", value=math.inf, n_real=0, n_fake=10, extractor="raw", extractor_sha256=None,
              reference="ring8:modes", seed=0, genlab_version="0", run="r")
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["value"] is None and Score.from_dict(d).value == math.inf


def test_registry_entries_are_complete():
    for name, spec in METRICS.items():
        assert spec.better in ("higher", "lower", "one"), name
        assert spec.help and callable(spec.fn), name


def test_metrics_import_neither_sampling_nor_data():
    """Layering: metrics receive samples and reference data; they never draw or load them."""
    import ast
    from pathlib import Path

    import genlab.metrics

    banned = ("genlab.sampling", "genlab.data", "genlab.evaluation", "genlab.api")
    for path in Path(genlab.metrics.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == b or n.startswith(b + ".") for n in names for b in banned), (path.name, names)


def test_one_psnr_and_ssim_for_reconstructions_and_translations():
    from genlab.metrics import translation
    from genlab.metrics.images import psnr, ssim, ssim_window

    assert ssim_window(28) == (11, 1.5) and ssim_window(64) == (11, 1.5)  # the standard Gaussian window
    assert ssim_window(8) == (7, pytest.approx(1.5 * 7 / 11))  # 8x8 digits: the same shape, smaller
    assert translation.psnr is psnr and translation.ssim is ssim
    g = torch.Generator().manual_seed(0)
    for side in (8, 16):
        x = torch.rand(6, 1, side, side, generator=g) * 2 - 1
        noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
        rec = recon_scores(x, noisy)
        assert rec["ssim"] == ssim(noisy, x) and rec["psnr"] == psnr(noisy, x)
        assert (rec["ssim_kernel"], rec["ssim_sigma"]) == ssim_window(side)
        assert 0 < rec["ssim"] < 1


def test_ssim_scores_intensities_with_wang_et_al_s_closed_form():
    """Two flat images differ only in brightness: the contrast-structure term is 1 and SSIM is
    the luminance term (2μxμy + C1) / (μx² + μy² + C1), C1 = (0.01 L)², on intensities in
    [0, L = 1]: mid-grey 0.50 against 0.55 scores 0.995. Scored on the nets' [-1, 1] instead (0 against
    0.1, C1 = 0.02²), the same pair would score 0.04."""
    from genlab.metrics.images import ssim

    for lo, hi in ((0.50, 0.55), (0.10, 0.30), (0.90, 0.95)):
        x, y = torch.full((2, 3, 16, 16), lo * 2 - 1), torch.full((2, 3, 16, 16), hi * 2 - 1)
        c1 = 0.01**2
        expected = (2 * lo * hi + c1) / (lo**2 + hi**2 + c1)
        assert ssim(x, y) == pytest.approx(expected, rel=1e-4) and ssim(y, x) == pytest.approx(ssim(x, y), rel=1e-6)
    assert ssim(torch.full((2, 3, 16, 16), 0.0), torch.full((2, 3, 16, 16), 0.1)) > 0.99
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    assert ssim(x, x) == pytest.approx(1.0) and ssim(x, -x) < 0


def test_samples_already_drawn_score_through_the_registry():
    """The trainer's live mode count and evaluation share the registry's mode function."""
    from genlab.data.toy2d import RING_STD, ring_centres
    from genlab.metrics import SampleSet, compute

    modes = torch.tensor(ring_centres(), dtype=torch.float32)
    pts = modes[[0, 2, 4]].repeat_interleave(50, dim=0)
    res = compute(["modes", "hq", "reverse_kl"], SampleSet(pts, modes=modes, mode_std=RING_STD))
    direct = mode_scores(pts, modes, RING_STD)
    assert {k: r.value for k, r in res.items()} == direct and res["modes"].value == 3
    assert res["modes"].n_fake == 150 and res["modes"].detail["modes_total"] == 8


def test_inception_from_a_local_torchvision_file_gives_2048_features(tmp_path):
    from torchvision.models import inception_v3

    path = tmp_path / "inception_v3.pth"
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict(), path)
    ex = F.get_extractor("inception", weights=path)
    assert ex.name == "inception" and ex.sha256 == F.sha256_file(path)
    feats = ex.embed(torch.rand(2, 1, 28, 28) * 2 - 1)  # gray 28 px -> RGB 299 px inside
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()


def test_confidence_and_rarest_class_share_in_closed_form():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3]])
    s = class_scores(probs.argmax(1), 2, probs)
    assert abs(s["confidence"] - (0.9 + 0.6 + 0.8 + 0.7) / 4) < 1e-9
    assert s["min_share"] == 0.25 and s["histogram"] == [3, 1]


def test_held_out_digits_are_confident_and_balanced():
    from genlab.data import load_data
    from genlab.metrics.features import load_classifier

    clf = load_classifier("mnist5k_cls")
    x = load_data("mnist5k", split="test").x
    probs = clf.probs(x)
    s = class_scores(probs.argmax(1), 10, probs)
    assert s["confidence"] > 0.9 and s["min_share"] > 0.05 and s["coverage"] == 1.0
    assert s["score"] == classifier_score(probs) > 8.0  # ten classes, each read confidently


def test_classifier_score_in_closed_form():
    """exp E KL(p(y|x) || p(y)): 1 when every prediction is the same, K for K equally frequent
    one-hot classes, and exp(H(p(y)) - E H(p(y|x))) in general."""
    same = torch.tensor([[0.7, 0.2, 0.1]]).repeat(50, 1)
    assert classifier_score(same) == 1.0
    assert classifier_score(torch.full((30, 10), 0.1)) == 1.0  # uniform predictions: no information
    ten = torch.eye(10).repeat(7, 1)  # ten one-hot classes, 7 samples each
    assert classifier_score(ten) == pytest.approx(10.0, rel=1e-12)
    assert classifier_score(torch.eye(4)[[0, 0, 1, 1]]) == pytest.approx(2.0, rel=1e-12)  # two of four classes
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=torch.float64)
    h = lambda p: float(-(p * p.log()).sum(-1).mean())  # noqa: E731
    assert classifier_score(probs) == pytest.approx(math.exp(h(probs.mean(0)) - h(probs)), rel=1e-12)
    s = class_scores(ten.argmax(1), 10, ten)
    assert s["score"] == classifier_score(ten) and s["confidence"] == 1.0


def probe_images(c: int, s: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)  # not the seed of the training script's probes
    return {"uniform noise": torch.rand(300, c, s, s, generator=g) * 2 - 1,
            "Gaussian noise": (0.5 * torch.randn(300, c, s, s, generator=g)).clamp(-1, 1),
            "blank -1": torch.full((1, c, s, s), -1.0), "blank 0": torch.zeros(1, c, s, s),
            "blank +1": torch.full((1, c, s, s), 1.0)}


@pytest.mark.parametrize("name,data,n", [("mnist5k_cls", "mnist5k", 500), ("shapes_cls", "shapes", 500),
                                         ("digits_cls", "digits", 179)])
def test_shipped_classifiers_read_real_images_and_reject_noise(name, data, n):
    """The shipped classifiers judge samples: held-out images are read right (>= 97%) and
    confidently, while noise and blank images get a near-uniform prediction (mean max-softmax
    < 0.5; 1/K is the floor), so noise cannot pass for a confident digit or shape."""
    from genlab.data import load_data

    ex = F.load_classifier(name)
    test = load_data(data, split="test")
    x, y = test.x[:n], test.y[:n]
    probs = ex.probs(x)
    acc = float((probs.argmax(1) == y).double().mean())
    real_conf = float(probs.max(1).values.mean())
    assert acc >= 0.97 and real_conf >= 0.9, (acc, real_conf)
    card = F.read_card(name)
    assert card["test_accuracy"] >= 0.97 and card["confidence"]["uniform_noise"] < 0.5
    for what, junk in probe_images(ex.channels, ex.size).items():
        conf = float(ex.probs(junk).max(1).values.mean())
        assert conf < 0.5, f"{name} is confident on {what}: {conf:.3f}"
    k = len(ex.class_names)
    noise = ex.probs(probe_images(ex.channels, ex.size)["uniform noise"])
    assert classifier_score(noise) < 1.5 < 0.7 * k < classifier_score(probs), (classifier_score(noise), k)
