"""MSOE: the reference weights decode known motion, shapes, the analytic filters' tuning, padding."""

import hashlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import stst_msoe
from stst_core import BackboneError, WeightsError, create_backbone
from stst_msoe.network import contrast_normalize, gaussian_kernel, symmetric_pad


def translating_texture(dx: float, dy: float, frames: int = 4, size: int = 128, seed: int = 0) -> torch.Tensor:
    """A blurred random texture moving by (dx, dy) px/frame (x right, y down), as (1, 3, T, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 1, size * 2, size * 2, generator=generator), 3, 1, 1)
    clip = [torch.roll(base, shifts=(round(dy * t), round(dx * t)), dims=(2, 3))[..., size // 2 : -size // 2, size // 2 : -size // 2] for t in range(frames)]
    return torch.stack(clip, dim=2).repeat(1, 3, 1, 1, 1)


def drifting_grating(direction_deg: float, speed: float, period: float, size: int = 96) -> torch.Tensor:
    """A sinusoidal grating drifting in ``direction_deg`` (0 = right, 90 = down), two frames."""
    y, x = torch.meshgrid(torch.arange(size * 1.0), torch.arange(size * 1.0), indexing="ij")
    theta = math.radians(direction_deg)
    along = x * math.cos(theta) + y * math.sin(theta)
    frames = [0.5 + 0.5 * torch.cos(2 * math.pi / period * (along - speed * t)) for t in range(2)]
    return torch.stack(frames)[None, None].repeat(1, 3, 1, 1, 1)


@pytest.fixture(scope="module")
def reference(msoe_weights):
    return create_backbone("msoe", weights=str(msoe_weights))


def test_acceptance_shapes(reference):
    out = reference(torch.rand(1, 3, 4, 128, 128))
    assert set(out) == {"concat"}
    assert out["concat"].shape == (1, 320, 3, 128, 128)
    all_layers = reference(torch.rand(1, 3, 2, 96, 64), "all")
    assert all_layers["scale3"].shape == (1, 64, 1, 12, 8)
    assert all_layers["flow"].shape == (1, 2, 1, 96, 64)


@pytest.mark.parametrize("dx, dy", [(2, 0), (-2, 0), (0, 2), (0, -2), (1, 1)])
def test_flow_decoder_recovers_a_known_translation(reference, dx, dy):
    flow = reference(translating_texture(dx, dy), ["flow"])["flow"]
    # ignore the borders, where rolled-in content breaks the translation
    mean = flow[..., 16:-16, 16:-16].mean(dim=(0, 2, 3, 4))
    assert abs(mean[0].item() - dx) < 0.5, mean
    assert abs(mean[1].item() - dy) < 0.5, mean


def test_static_clip_decodes_to_no_motion(reference):
    flow = reference(translating_texture(0, 0), ["flow"])["flow"]
    assert flow[..., 16:-16, 16:-16].abs().mean() < 0.5


def test_each_frame_pair_is_normalised_on_its_own(reference):
    clip = translating_texture(2, 0, frames=3)
    clip[:, :, 2] = clip[:, :, 2] * 0.3 + 0.6  # change the contrast of the last frame only
    together = reference(clip)["concat"]
    first_pair = reference(clip[:, :, :2])["concat"]
    torch.testing.assert_close(together[:, :, :1], first_pair)


def test_l1_normalised_channels(reference):
    scale0 = reference(torch.rand(1, 3, 2, 64, 64), ["scale0"])["scale0"]
    torch.testing.assert_close(scale0.abs().sum(dim=1), torch.ones(1, 1, 64, 64))


def test_reference_npz_and_state_dict_round_trip(tmp_path, reference):
    path = tmp_path / "msoe.pt"
    torch.save(reference.net.state_dict(), path)
    again = create_backbone("msoe", weights=str(path))
    x = torch.rand(1, 3, 2, 80, 80)
    torch.testing.assert_close(again(x, ["flow"])["flow"], reference(x, ["flow"])["flow"])


def test_download_from_its_published_location(file_server, monkeypatch, msoe_weights):
    folder, base, requests = file_server
    (folder / "weights.npz").write_bytes(msoe_weights.read_bytes())
    local = stst_msoe.TESFALDET.__class__(**{**stst_msoe.TESFALDET.__dict__, "urls": (f"{base}/weights.npz",)})
    assert local.sha256 == hashlib.sha256(msoe_weights.read_bytes()).hexdigest()
    choices = tuple(stst_msoe.WeightsChoice(c.tag, c.description, c.licence, local) if c.file else c for c in stst_msoe.MSOE.weights_choices)
    monkeypatch.setattr(stst_msoe.MSOE, "weights_choices", choices)
    net = create_backbone("msoe")  # the default weights are the reference ones
    assert net.card.weights == "tesfaldet"
    assert "flow" in net.layers
    create_backbone("msoe", weights="tesfaldet")  # second time: from the cache
    assert requests == ["/weights.npz"]


def test_offline_without_the_file_says_where_to_put_it(monkeypatch):
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"msoe_tesfaldet_weights.npz \(sha256 99c984d7"):
        create_backbone("msoe", weights="tesfaldet")


def test_a_file_that_is_not_msoe_is_a_clear_error(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, conv1_w=np.zeros((2, 11, 11, 1, 32), np.float32))
    with pytest.raises(WeightsError, match=r"other.npz does not fit msoe \(missing conv1.weight.*unexpected conv1_w\). Expected the reference MSOE .npz"):
        create_backbone("msoe", weights=str(path))


def test_a_file_saved_from_the_analytic_weights_loads_back_without_a_decoder(tmp_path, analytic):
    torch.save(analytic.state_dict(), tmp_path / "analytic.pt")
    assert set(analytic.state_dict()) == {"net.conv1.weight", "net.conv1.bias", "net.conv2.weight", "net.conv2.bias"}
    again = create_backbone("msoe", weights=str(tmp_path / "analytic.pt"))
    assert "flow" not in again.layers and again.card.weights == f"file:{tmp_path / 'analytic.pt'}"
    x = torch.rand(1, 3, 2, 32, 32)
    torch.testing.assert_close(again(x)["concat"], analytic(x)["concat"], rtol=0, atol=0)


@pytest.fixture(scope="module")
def analytic():
    return create_backbone("msoe", weights="analytic")


def test_analytic_weights_prefer_their_tuned_direction(analytic):
    from stst_msoe.analytic import MOTION_DIRECTIONS, PERIOD, SPEED

    for k, direction in enumerate(MOTION_DIRECTIONS):
        energy = analytic(drifting_grating(direction, SPEED, PERIOD), ["scale0"])["scale0"]
        motion = energy[0, : len(MOTION_DIRECTIONS), 0, 16:-16, 16:-16].mean(dim=(1, 2))
        others = torch.cat([motion[:k], motion[k + 1 :]])
        assert motion.argmax().item() == k, (direction, motion)
        assert motion[k] > 1.5 * others.max()
        opposite = (k + len(MOTION_DIRECTIONS) // 2) % len(MOTION_DIRECTIONS)
        assert motion[k] > 100 * motion[opposite]


def test_analytic_weights_are_direction_selective_on_textures(analytic):
    right = analytic(translating_texture(1, 0, frames=2, seed=3), ["scale0"])["scale0"][0, :12, 0].mean(dim=(1, 2))
    left = analytic(translating_texture(-1, 0, frames=2, seed=3), ["scale0"])["scale0"][0, :12, 0].mean(dim=(1, 2))
    # channel 0 is tuned to rightward motion, channel 6 to leftward
    assert right[0] > 2 * right[6]
    assert left[6] > 2 * left[0]


def test_analytic_has_no_flow_layer(analytic):
    assert "flow" not in analytic.layers
    with pytest.raises(BackboneError, match="no layer.*flow"):
        analytic(torch.rand(1, 3, 2, 32, 32), ["flow"])


def test_random_weights_are_seeded():
    x = torch.rand(1, 3, 2, 48, 48)
    a = create_backbone("msoe", weights="random", seed=1)(x)["concat"]
    b = create_backbone("msoe", weights="random", seed=1)(x)["concat"]
    c = create_backbone("msoe", weights="random", seed=2)(x)["concat"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_one_frame_is_not_enough(analytic):
    with pytest.raises(BackboneError, match="looks at 2 consecutive frames, got a clip of 1"):
        analytic(torch.rand(1, 3, 1, 32, 32))


@pytest.mark.parametrize("pad", [1, 2, 5])
def test_symmetric_pad_matches_numpy(pad):
    x = torch.arange(2 * 3 * 7 * 6, dtype=torch.float32).reshape(2, 3, 7, 6)
    expected = np.pad(x.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="symmetric")
    np.testing.assert_array_equal(symmetric_pad(x, pad).numpy(), expected)


def test_symmetric_pad_beyond_the_size_continues_the_mirror():
    row = torch.tensor([[[[1.0, 2.0]]]])
    # ... 2 2 1 | 1 2 | 2 1 1 ...: the mirror with period 2·size
    assert symmetric_pad(row, 3)[0, 0, 3].tolist() == [2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0]


def test_contrast_normalisation_and_gaussian_kernel():
    x = torch.rand(3, 2, 10, 10) * 5 + 2
    normalised = contrast_normalize(x)
    torch.testing.assert_close(normalised.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalised.std(dim=(1, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    kernel = gaussian_kernel(5, 2.0)
    assert kernel.sum().item() == pytest.approx(1.0)
    assert kernel[2, 2] == kernel.max() and torch.equal(kernel, kernel.T)
    assert kernel[2, 3].item() / kernel[2, 2].item() == pytest.approx(math.exp(-1 / 8))


def test_separable_max_pool_equals_the_5x5_pool(analytic):
    pair = torch.rand(2, 2, 40, 56)
    net = analytic.net
    energy = net.conv1(symmetric_pad(contrast_normalize(pair), 5)).square()
    reference = net.conv2(F.max_pool2d(energy, kernel_size=5, stride=1, padding=2))
    reference = reference / reference.abs().sum(dim=1, keepdim=True).clamp_min(1e-12)
    torch.testing.assert_close(net.oriented_energy(contrast_normalize(pair)), reference, rtol=0, atol=0)


def test_grey_options(analytic):
    clip = torch.rand(1, 3, 2, 48, 48)
    luma = create_backbone("msoe", weights="analytic", grey="luma")
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1, 1)
    grey_clip = (clip * weights).sum(1, keepdim=True).repeat(1, 3, 1, 1, 1) / 3
    # luma weighting equals feeding the luma image in all three channels to the summing network
    torch.testing.assert_close(luma(clip)["concat"], analytic(grey_clip)["concat"], atol=1e-5, rtol=1e-4)
    assert luma.card.extra["grey"] == "luma"
    with pytest.raises(BackboneError, match="grey must be one of 'sum', 'luma'; got 'average'"):
        create_backbone("msoe", weights="analytic", grey="average")


def _tf1_legacy_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """TF1's ResizeBilinear(align_corners=False), no half_pixel_centers, of (H, W), written out pixel by pixel."""
    (h, w), (out_h, out_w) = image.shape, size
    out = np.empty(size)
    for i in range(out_h):
        y = i * h / out_h
        y0, y1, fy = int(np.floor(y)), min(int(np.ceil(y)), h - 1), y - np.floor(y)
        for j in range(out_w):
            x = j * w / out_w
            x0, x1, fx = int(np.floor(x)), min(int(np.ceil(x)), w - 1), x - np.floor(x)
            top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
            bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
            out[i, j] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize(("size_in", "size_out"), [((5, 7), (20, 28)), ((3, 4), (45, 70)), ((9, 6), (9, 6)), ((4, 4), (13, 11))])
def test_upsampling_as_matrices(size_in, size_out):
    from stst_msoe.network import upsample

    x = torch.rand(2, 3, *size_in, dtype=torch.float64)
    half = upsample(x, size_out, "half_pixel")
    torch.testing.assert_close(half, F.interpolate(x, size=size_out, mode="bilinear", align_corners=False), rtol=0, atol=1e-6)
    legacy = upsample(x, size_out, "tf1_legacy")
    np.testing.assert_allclose(legacy[1, 2].numpy(), _tf1_legacy_resize(x[1, 2].numpy(), size_out), atol=1e-6)
    if size_in != size_out:  # the legacy grid is shifted by half an input pixel
        assert (legacy - half).abs().max() > 1e-2


def test_tf1_legacy_upsampling_changes_the_concat_layer_and_is_recorded(analytic):
    clip = translating_texture(1.0, 0.0, frames=2, size=64)
    legacy = create_backbone("msoe", weights="analytic", upsampling="tf1_legacy")
    ours, theirs = analytic(clip, ["concat", "scale0", "scale2"]), legacy(clip, ["concat", "scale0", "scale2"])
    torch.testing.assert_close(ours["scale2"], theirs["scale2"])  # the levels themselves are the same
    torch.testing.assert_close(ours["concat"][:, :64], theirs["concat"][:, :64])  # level 0 is not resized
    assert (ours["concat"] - theirs["concat"]).abs().max() > 1e-3
    assert legacy.card.extra["upsampling"] == "tf1_legacy" and "upsampling" not in analytic.card.extra
    with pytest.raises(BackboneError, match="upsampling"):
        create_backbone("msoe", weights="analytic", upsampling="nearest")
