"""Colour transfer: iterative distribution transfer (IDT) and regrain, on synthetic images."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

_PATH = Path(__file__).resolve().parents[1] / "plugins" / "stst_styletransfer" / "color.py"
_spec = importlib.util.spec_from_file_location("stst_color", _PATH)
color = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(color)


# --------------------------------------------------------------------------- synthetic images


def blueish(height, width, seed=0):
    """Smooth blueish gradients with a little grain."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    image = torch.stack([0.1 + 0.25 * x, 0.2 + 0.3 * x * y, 0.5 + 0.4 * y])
    return (image + 0.03 * torch.randn(3, height, width, generator=g)).clamp(0, 1)


def reddish(height, width, seed=1):
    """Reddish noise with correlated channels."""
    g = torch.Generator().manual_seed(seed)
    n = torch.rand(height, width, generator=g)
    image = torch.stack([0.55 + 0.35 * n, 0.15 + 0.25 * n**2, 0.1 + 0.1 * n])
    return (image + 0.05 * torch.randn(3, height, width, generator=g)).clamp(0, 1)


def quantile_gap(a, b):
    """Mean |difference| of the per-channel quantiles (sorted values) of two images, per channel."""
    q = torch.linspace(0, 1, 201, dtype=torch.float64)
    qa = torch.quantile(a.reshape(3, -1).double(), q, dim=1)
    qb = torch.quantile(b.reshape(3, -1).double(), q, dim=1)
    return (qa - qb).abs().mean(0)


def gradient_magnitude(image):
    x = image.double()
    dx = x[:, 1:-1, 2:] - x[:, 1:-1, :-2]
    dy = x[:, 2:, 1:-1] - x[:, :-2, 1:-1]
    return (dx**2 + dy**2).sum(0).sqrt().flatten()


def correlation(a, b):
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


# --------------------------------------------------------------------------- rotations


def test_rotations_are_pities_orthogonal_matrices_starting_with_identity():
    r = color.transfer_rotations()
    assert r.shape == (6, 3, 3) and r.dtype == torch.float64
    # printed to six decimals: orthogonal to that precision (a mistyped entry is not); three are reflections
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(6, 3, 3), rtol=0, atol=3e-6)
    torch.testing.assert_close(torch.linalg.det(r).abs(), torch.ones(6, dtype=torch.float64), rtol=0, atol=5e-6)
    assert torch.equal(r[0], torch.eye(3, dtype=torch.float64))
    # the 18 projection axes are distinct directions (as lines)
    axes = r.reshape(18, 3)
    cosines = (axes @ axes.T).abs() - 2 * torch.eye(18, dtype=torch.float64)
    assert math.degrees(math.acos(cosines.max().item())) > 5


# --------------------------------------------------------------------------- 1-D transfer


def test_1d_transfer_shift_by_hand():
    # uniform on [0, 0.5] onto uniform on [0.5, 1]: x -> x + 0.5
    x = torch.linspace(0, 0.5, 5001, dtype=torch.float64)[None]
    y = torch.linspace(0.5, 1, 3001, dtype=torch.float64)[None]
    out = color._transfer_1d(x, y, 300)
    assert (out - (x + 0.5)).abs().max().item() < 2e-3


def test_1d_transfer_square_by_hand():
    # uniform on [0, 1] onto the distribution of u² (u uniform): T(x) = P_y⁻¹(x) = x²
    x = torch.linspace(0, 1, 4001, dtype=torch.float64)[None]
    y = torch.linspace(0, 1, 6001, dtype=torch.float64)[None] ** 2
    out = color._transfer_1d(x, y, 300)
    assert (out - x**2).abs().max().item() < 5e-3


def test_1d_transfer_rows_gaps_and_identity():
    g = torch.Generator().manual_seed(2)
    x = torch.linspace(0, 1, 4001, dtype=torch.float64)
    # reference with a gap: half on [0, 0.2], half on [0.8, 1]
    gapped = torch.cat([torch.rand(2000, generator=g) * 0.2, 0.8 + torch.rand(2001, generator=g) * 0.2]).double()
    # rows are transferred independently: row 0 onto the gapped sample, row 1 onto uniform [0.25, 1]
    reference = torch.stack([gapped, torch.linspace(0.25, 1, 4001, dtype=torch.float64)])
    out = color._transfer_1d(torch.stack([x, x]), reference, 300)
    assert not ((out[0] > 0.2 + 1e-2) & (out[0] < 0.8 - 1e-2)).any()  # nothing sent into the gap
    assert (out[0][x < 0.49] <= 0.2 + 1e-2).all() and (out[0][x > 0.51] >= 0.8 - 1e-2).all()
    assert (out[1] - (0.25 + 0.75 * x)).abs().max() < 5e-3
    # a sample onto itself (gaps included) is the identity
    torch.testing.assert_close(color._transfer_1d(gapped[None], gapped[None], 300), gapped[None], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- IDT


def test_idt_matches_reference_distribution():
    image, reference = blueish(48, 64), reddish(40, 56)
    assert quantile_gap(image, reference).max() > 0.3  # really different to start with
    out = color.distribution_transfer(image, reference)
    assert out.shape == image.shape and out.dtype == torch.float32
    assert quantile_gap(out, reference).max() < 0.02
    o, r = out.reshape(3, -1).double(), reference.reshape(3, -1).double()
    assert (o.mean(1) - r.mean(1)).abs().max() < 5e-3
    assert (torch.cov(o) - torch.cov(r)).abs().max() < 2e-3
    assert out.min() >= 0 and out.max() <= 1


def test_idt_onto_itself_is_identity_and_deterministic():
    image = blueish(32, 40)
    torch.testing.assert_close(color.distribution_transfer(image, image), image, rtol=0, atol=1e-5)
    reference = reddish(30, 30)
    a = color.distribution_transfer(image, reference)
    b = color.distribution_transfer(image.clone(), reference.clone())
    assert torch.equal(a, b)


def test_idt_output_in_unit_range_for_extreme_inputs():
    g = torch.Generator().manual_seed(3)
    image = (torch.rand(3, 20, 24, generator=g) > 0.5).float()  # only 0s and 1s
    reference = torch.rand(3, 17, 19, generator=g) ** 4
    out = color.distribution_transfer(image, reference)
    assert out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()
    # a constant image or reference does not break it
    flat = torch.full((3, 8, 8), 0.3)
    assert torch.isfinite(color.distribution_transfer(flat, reference)).all()
    torch.testing.assert_close(color.distribution_transfer(image, flat), flat.new_full(image.shape, 0.3), rtol=0, atol=1e-4)


def test_idt_custom_rotations():
    image, reference = blueish(24, 24), reddish(24, 24)
    identity_only = color.distribution_transfer(image, reference, rotations=torch.eye(3)[None])
    # one identity step matches the RGB marginals exactly (up to the bins)
    assert quantile_gap(identity_only, reference).max() < 0.01
    with pytest.raises(ValueError):
        color.distribution_transfer(image, reference, rotations=torch.eye(3))


# --------------------------------------------------------------------------- regrain


def test_regrain_with_own_colours_is_nearly_identity():
    image = blueish(96, 128)
    out = color.regrain(image, image)
    assert out.dtype == torch.float32 and out.shape == image.shape
    assert (out - image).abs().mean() < 5e-3
    assert (out - image).abs().max() < 3e-2


def test_regrain_keeps_gradients_and_takes_colour():
    image = blueish(96, 128)
    colour = (image + 0.1).clamp(0, 1)
    out = color.regrain(image, colour)
    assert out.min() >= 0 and out.max() <= 1
    assert correlation(gradient_magnitude(out), gradient_magnitude(image)) > 0.9
    moved = (out.mean((1, 2)) - image.mean((1, 2))) / (colour.mean((1, 2)) - image.mean((1, 2)))
    assert (moved > 0.5).all() and (moved < 1.05).all()


def test_regrain_removes_the_grain_idt_adds_in_flat_regions():
    """Pitié's point: IDT stretches faint noise of flat regions into visible grain; regrain removes it."""
    g = torch.Generator().manual_seed(5)
    y, x = torch.meshgrid(torch.linspace(0, 1, 72), torch.linspace(0, 1, 96), indexing="ij")
    flat = torch.stack([0.45 + 0.05 * x, 0.5 + 0.02 * y, 0.48 + 0.03 * x * y])
    image = (flat + 0.004 * torch.randn(3, 72, 96, generator=g)).clamp(0, 1)  # below regrain's edge threshold
    reference = reddish(72, 96)  # far more contrast: IDT stretches the faint noise
    idt = color.distribution_transfer(image, reference)

    def grain(a):  # mean absolute Laplacian: the fine-scale texture
        return (4 * a[:, 1:-1, 1:-1] - a[:, :-2, 1:-1] - a[:, 2:, 1:-1] - a[:, 1:-1, :-2] - a[:, 1:-1, 2:]).abs().mean()

    out = color.regrain(image, idt)
    assert grain(idt) > 5 * grain(image)
    assert grain(out) < grain(idt) / 3


def test_regrain_moves_colours_part_of_the_way():
    # Pitié's regrain keeps the input's gradients and moves the colours part of the way: on this smooth
    # image, with only three levels, about a third of it (the reference does the same: the golden test)
    image, reference = blueish(72, 96), reddish(72, 96)
    idt = color.distribution_transfer(image, reference)
    out = color.regrain(image, idt)
    gap = quantile_gap(out, reference) / quantile_gap(image, reference)
    assert (gap < 0.8).all() and (gap > quantile_gap(idt, reference) / quantile_gap(image, reference)).all()


def test_regrain_small_and_single_level_images():
    for h, w in [(1, 1), (5, 7), (30, 50)]:
        image = blueish(h, w)
        out = color.regrain(image, (image * 0.5).clamp(0, 1), iterations=(4, 16))
        assert out.shape == image.shape and torch.isfinite(out).all()


# --------------------------------------------------------------------------- both


def test_color_transfer_end_to_end():
    image, reference = blueish(96, 128).double(), reddish(50, 50)
    out = color.color_transfer(image, reference)
    assert out.shape == image.shape and out.dtype == torch.float32 and out.device == image.device
    assert out.min() >= 0 and out.max() <= 1
    # regrain keeps the input's gradients, so the colours get most of the way, not all
    assert quantile_gap(out, reference).mean() < quantile_gap(image, reference).mean() / 3
    assert torch.equal(out, color.color_transfer(image, reference))
    expected = color.regrain(image, color.distribution_transfer(image, reference))
    assert torch.equal(out, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_color_transfer_on_cuda_stays_there():
    image, reference = blueish(48, 64).cuda(), reddish(40, 40)
    out = color.color_transfer(image, reference)
    assert out.device == image.device and out.dtype == torch.float32
    cpu = color.color_transfer(image.cpu(), reference)
    assert (out.cpu() - cpu).abs().max() < 1e-3


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(8, 8),
        torch.rand(4, 8, 8),
        torch.rand(1, 3, 8, 8),
        torch.rand(3, 0, 8),
        torch.randint(0, 255, (3, 8, 8)),
        torch.full((3, 8, 8), float("nan")),
        [[[0.5]]] * 3,
    ],
)
def test_bad_inputs_raise_value_error(bad):
    good = torch.rand(3, 8, 8)
    for call in (
        lambda: color.color_transfer(bad, good),
        lambda: color.color_transfer(good, bad),
        lambda: color.distribution_transfer(bad, good),
        lambda: color.regrain(bad, good),
        lambda: color.regrain(good, bad),
    ):
        with pytest.raises(ValueError):
            call()


def test_regrain_needs_same_size():
    with pytest.raises(ValueError, match="shape"):
        color.regrain(torch.rand(3, 8, 8), torch.rand(3, 8, 9))


# --------------------------------------------------------------------------- the STST reference's outputs

GOLDEN_PAIRS = ("animal_to_fire", "noise_to_animal", "flag_to_animal", "fire_to_flag")


@pytest.mark.parametrize("pair", GOLDEN_PAIRS)
def test_reference_mapping_reproduces_the_stst_reference(shared_data_dir, pair):
    """The reference's own Color_Transfer.py, run on four frame pairs: IDT alone and IDT + regrain."""
    import numpy as np

    golden = np.load(shared_data_dir / "golden" / "color_transfer.npz")
    image, reference, idt, output = (torch.from_numpy(golden[f"{pair}_{key}"]).permute(2, 0, 1) for key in ("input", "reference", "idt", "output"))
    ours_idt = color.distribution_transfer(image, reference, mapping="reference")
    ours = color.color_transfer(image, reference, mapping="reference")
    for got, want in ((ours_idt, idt), (ours, output)):
        difference = (got - want).abs()
        assert difference.mean() <= 1e-3 and difference.max() <= 1e-2
    assert (ours - output).abs().max() < 1e-5  # in fact to float32 rounding
    # the exact mapping differs from it, and leaves a frame transferred onto itself as it is, where the reference's moves it
    assert (color.distribution_transfer(image, reference) - idt).abs().max() > 1e-2
    torch.testing.assert_close(color.distribution_transfer(image, image), image, rtol=0, atol=1e-6)
    assert (color.distribution_transfer(image, image, mapping="reference") - image).abs().max() > 1e-3


def test_the_reference_mapping_is_at_most_a_bin_off_the_exact_one():
    x = torch.linspace(0, 1, 4001, dtype=torch.float64)[None]
    y = (torch.linspace(0, 1, 3001, dtype=torch.float64) ** 2)[None]
    exact, left = color._transfer_1d(x, y, 300), color._transfer_1d_left_edges(x, y, 300)
    bin_width = (1 + 2e-6) / 300
    assert (exact - left).abs()[:, :-40].max() <= 1.5 * bin_width  # (the last bin goes to the top of the range)
    assert (left - exact).mean() > 0  # the left-edge pairing shifts values up
    with pytest.raises(ValueError, match="mapping must be one of exact, reference"):
        color.distribution_transfer(torch.rand(3, 4, 4), torch.rand(3, 4, 4), mapping="nearest")
