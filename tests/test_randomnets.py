"""random-multiscale: shapes, seeding, frozen filters, file weights, per-frame processing, informative Gram matrices."""

import math

import pytest
import torch
import torch.nn.functional as F

from stst_core import BackboneError, WeightsError, create_backbone, create_loss, list_backbones
from stst_randomnets import RandomMultiscale
from stst_randomnets.network import _FrozenConv, conv_relu, gaussian_blur_kernel


@pytest.fixture(scope="module")
def net():
    return create_backbone("random-multiscale", seed=0)


def oriented_noise(angle_deg: float, seed: int, size: int = 256, along: float = 4.0, across: float = 1.0) -> torch.Tensor:
    """A stationary grey texture: white noise blurred by an elongated Gaussian at ``angle_deg``, as (1, 3, 1, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, 1, size, size, generator=generator)
    r = torch.arange(-12, 13.0)
    y, x = torch.meshgrid(r, r, indexing="ij")
    theta = math.radians(angle_deg)
    u = x * math.cos(theta) + y * math.sin(theta)
    v = -x * math.sin(theta) + y * math.cos(theta)
    kernel = torch.exp(-((u / along) ** 2) / 2 - ((v / across) ** 2) / 2)
    image = F.conv2d(F.pad(noise, (12,) * 4, mode="circular"), (kernel / kernel.norm())[None, None])
    return (0.5 + 0.15 * image / image.std()).clamp(0, 1).expand(1, 3, size, size)[:, :, None]


def stripes(vertical: bool, shift: int = 0, size: int = 128, period: int = 8) -> torch.Tensor:
    """Square-wave stripes (horizontal or vertical), as (1, 3, 1, H, W)."""
    i = torch.arange(size * 1.0) + shift
    profile = 0.5 + 0.4 * torch.sign(torch.sin(2 * math.pi * i / period + 0.3))
    image = profile[None, :].expand(size, size) if vertical else profile[:, None].expand(size, size)
    return image.expand(1, 3, size, size)[:, :, None]


def test_registered_with_its_layers(net):
    assert "random-multiscale" in list_backbones()
    assert isinstance(net, RandomMultiscale)
    assert list(net.layers) == ["level0", "level1", "level2", "level3"]
    assert net.default_layers == ("level0", "level1", "level2", "level3")
    assert all(spec.axes == "CTHW" and spec.channels == 128 for spec in net.layers.values())
    assert net.temporal_window == 1
    assert net.card.weights == "random"
    assert net.card.licence == "Apache-2.0 (this toolkit)"
    assert "Ustyuzhaninov" in net.card.paper and "2017" in net.card.paper
    assert "ImageNet" in net.card.input_normalization
    assert net.card.as_attrs()["option_channels"] == "128"


@pytest.mark.parametrize(
    "size, expected",
    [((96, 64), [(96, 64), (48, 32), (24, 16), (12, 8)]), ((97, 61), [(97, 61), (49, 31), (25, 16), (13, 8)])],
)
def test_level_shapes_halve_with_ceiling(net, size, expected):
    shapes = net.output_shapes((1, 3, 2, *size))
    assert shapes == {f"level{s}": (1, 128, 2, *hw) for s, hw in enumerate(expected)}


def test_options_change_levels_and_channels():
    small = create_backbone("random-multiscale", levels=2, channels=16, kernel_size=3)
    assert list(small.layers) == ["level0", "level1"]
    assert small.output_shapes((2, 3, 1, 20, 30)) == {"level0": (2, 16, 1, 20, 30), "level1": (2, 16, 1, 10, 15)}
    assert small.net.filters.shape == (1, 16, 3, 3, 3)


def test_tiny_frames_still_work(net):
    # the coarsest level is 1×1: too small to reflect, it is padded by replication
    out = net(torch.rand(1, 3, 1, 8, 8))
    assert out["level3"].shape == (1, 128, 1, 1, 1)
    assert all(torch.isfinite(o).all() for o in out.values())


def test_a_subset_of_layers(net):
    x = torch.rand(1, 3, 1, 40, 40)
    everything = net(x, "all")
    only = net(x, ["level2"])
    assert list(only) == ["level2"]
    torch.testing.assert_close(only["level2"], everything["level2"], rtol=0, atol=0)


def test_filters_zero_mean_unit_norm(net):
    filters = net.net.filters.flatten(2)
    torch.testing.assert_close(filters.mean(dim=2), torch.zeros(filters.shape[:2]), atol=1e-6, rtol=0)
    torch.testing.assert_close(filters.norm(dim=2), torch.ones(filters.shape[:2]), atol=1e-5, rtol=0)


def test_uniform_field_gives_no_response(net):
    # zero-mean filters ignore a uniform luminance: a grey that is constant after normalisation
    grey = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1) + 0.3 * torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)  # ImageNet
    out = net(grey.expand(1, 3, 1, 32, 32).contiguous())
    assert all(o.abs().max() < 1e-5 for o in out.values())


def test_seeded(net):
    x = torch.rand(1, 3, 1, 32, 32)
    again = create_backbone("random-multiscale", seed=0)
    other = create_backbone("random-multiscale", seed=1)
    assert torch.equal(again.net.filters, net.net.filters)
    torch.testing.assert_close(again(x)["level0"], net(x)["level0"], rtol=0, atol=0)
    assert not torch.allclose(other(x)["level0"], net(x)["level0"])


def test_state_dict_round_trip(tmp_path, net):
    path = tmp_path / "random.pt"
    torch.save(net.state_dict(), path)
    loaded = create_backbone("random-multiscale", weights=str(path), seed=7)
    assert loaded.card.weights == f"file:{path}"
    x = torch.rand(1, 3, 2, 40, 36)
    for name, out in net(x).items():
        torch.testing.assert_close(loaded(x)[name], out, rtol=0, atol=0)
    # the inner network's state dict (key "filters") loads too
    inner = tmp_path / "inner.pt"
    torch.save(net.net.state_dict(), inner)
    assert torch.equal(create_backbone("random-multiscale", weights=str(inner)).net.filters, net.net.filters)


def test_file_that_does_not_fit_is_a_clear_error(tmp_path):
    path = tmp_path / "small.pt"
    torch.save(create_backbone("random-multiscale", channels=64, kernel_size=5, shared=False).state_dict(), path)
    with pytest.raises(WeightsError, match=r"channels=64, kernel_size=5, shared=False, levels=4"):
        create_backbone("random-multiscale", weights=str(path))
    assert create_backbone("random-multiscale", weights=str(path), channels=64, kernel_size=5, shared=False).net.filters.shape == (4, 64, 3, 5, 5)
    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(WeightsError, match="not a random-multiscale state dict"):
        create_backbone("random-multiscale", weights=str(other))


def test_frames_are_processed_independently(net):
    clip = torch.rand(2, 3, 3, 40, 48)
    together = net(clip)
    for t in range(clip.shape[2]):
        alone = net(clip[:, :, t : t + 1])
        for name, out in together.items():
            torch.testing.assert_close(alone[name], out[:, :, t : t + 1], atol=1e-6, rtol=1e-5)
    first = net(clip[:1])
    torch.testing.assert_close(first["level1"], together["level1"][:1], atol=1e-6, rtol=1e-5)


def test_independent_banks_per_level():
    shared = create_backbone("random-multiscale", seed=3)
    separate = create_backbone("random-multiscale", seed=3, shared=False)
    banks = separate.net.filters
    assert banks.shape == (4, 128, 3, 7, 7)
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.allclose(banks[a], banks[b])
    assert torch.equal(banks[0], shared.net.filters[0])  # bank 0 is the shared bank
    x = torch.rand(1, 3, 1, 32, 32)
    torch.testing.assert_close(separate(x)["level0"], shared(x)["level0"], rtol=0, atol=0)
    assert not torch.allclose(separate(x)["level1"], shared(x)["level1"])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"levels": 0}, "levels must be an integer from 1 to 8"),
        ({"levels": 9}, "levels must be an integer from 1 to 8"),
        ({"levels": 2.0}, "levels must be an integer"),
        ({"levels": True}, "levels must be an integer"),
        ({"channels": 0}, "channels must be an integer ≥ 1"),
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"kernel_size": -1}, "kernel_size must be an integer ≥ 1"),
        ({"shared": "no"}, "(?i)shared must be true or false"),
        ({"weights": "imagenet"}, "unknown weights 'imagenet'"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(BackboneError, match=message):
        create_backbone("random-multiscale", **options)


def test_gram_matrices_tell_textures_apart(net):
    gram = create_loss("gram")

    def distance(a, b):
        fa, fb = net(a), net(b)
        return sum(gram(fa[name], fb[name]).item() for name in fa)

    # two disjoint crops of one stationary oriented texture, against the same kind of
    # texture turned by 90° (identical grey-level statistics, other orientation)
    texture, turned = oriented_noise(30, seed=0), oriented_noise(120, seed=1)
    same = distance(texture[..., :128, :128], texture[..., 128:, 128:])
    different = distance(texture[..., :128, :128], turned[..., :128, :128])
    assert different > 10 * same, (same, different)  # about 25× with seed 0

    # stripes: a shifted crop of the same stripes, against stripes turned by 90°
    same = distance(stripes(vertical=False), stripes(vertical=False, shift=3))
    different = distance(stripes(vertical=False), stripes(vertical=True))
    assert different > 20 * same, (same, different)  # about 60× with seed 0


def test_gradient_reaches_the_input(net):
    gram = create_loss("gram")
    target = net(torch.rand(1, 3, 1, 48, 48))
    x = torch.rand(1, 3, 1, 48, 48, requires_grad=True)
    out = net(x)
    sum(gram(out[name], target[name]) for name in out).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("kernel_size", [1, 3, 7])
def test_fast_input_gradient_is_the_convolution_gradient(kernel_size):
    x = torch.randn(2, 3, 13, 11, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 3, kernel_size, kernel_size, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: _FrozenConv.apply(t, weight), (x,))
    grad = torch.randn(2, 5, 14 - kernel_size, 12 - kernel_size, dtype=torch.float64)
    expected = torch.autograd.grad(F.relu(F.conv2d(x, weight)), x, grad)[0]
    torch.testing.assert_close(torch.autograd.grad(conv_relu(x, weight), x, grad)[0], expected)


def test_gaussian_blur_kernel():
    kernel = gaussian_blur_kernel()
    assert kernel.shape == (5, 5)
    assert kernel.sum().item() == pytest.approx(1.0)
    assert torch.equal(kernel, kernel.T) and kernel[2, 2] == kernel.max()
    assert kernel[2, 3].item() / kernel[2, 2].item() == pytest.approx(math.exp(-0.5))
