"""Losses against hand-computed values."""

import pytest
import torch

from stst_core import ConfigError, compare_prepared, create_loss, prepare_target
from stst_losses import gram_matrix


def test_gram_matrix_by_hand():
    # one sample, 2 channels, 3 locations
    f = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]]])
    expected = torch.tensor([[[14.0, -1.0], [-1.0, 2.0]]]) / 3
    torch.testing.assert_close(gram_matrix(f), expected)
    torch.testing.assert_close(gram_matrix(f, "chw"), expected / 2)
    # every non-channel axis counts as a location: a (B, C, T, H, W) input
    torch.testing.assert_close(gram_matrix(f.reshape(1, 2, 3, 1, 1)), expected)


def test_gram_loss_by_hand():
    s = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]]])
    t = torch.tensor([[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]])
    # G(s) = [[14, -1], [-1, 2]] / 3 and G(t) = [[1, 1], [1, 1]]
    diff = torch.tensor([[14 / 3 - 1, -1 / 3 - 1], [-1 / 3 - 1, 2 / 3 - 1]])
    assert create_loss("gram")(s, t).item() == pytest.approx((diff**2).mean().item())
    assert create_loss("gram", normalization="chw")(s, t).item() == pytest.approx(((diff + torch.tensor([[1.0, 1], [1, 1]])) / 2 - 0.5).pow(2).mean().item())


def test_gram_loss_prepared_target_matches_direct_call():
    loss = create_loss("gram")
    s, t = torch.randn(2, 4, 3, 5, 5, requires_grad=True), torch.randn(2, 4, 3, 5, 5)
    prepared = prepare_target(loss, t)
    assert prepared.shape == (2, 4, 4)
    torch.testing.assert_close(compare_prepared(loss, s, prepared), loss(s, t))
    compare_prepared(loss, s, prepared).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert loss(t, t).item() < 1e-12  # zero up to rounding


def test_total_variation_by_hand():
    image = torch.tensor([[[[0.0, 1.0], [3.0, 1.0]]]])  # (B=1, C=1, H=2, W=2)
    # vertical |3-0| + |1-1| = 3; horizontal |1-0| + |1-3| = 3; / (H·W) = 6/4
    assert create_loss("tv")(image, None).item() == pytest.approx(1.5)
    rgb = image.repeat(1, 3, 1, 1)  # summed over channels
    assert create_loss("tv")(rgb, None).item() == pytest.approx(4.5)
    video = torch.stack([image, torch.zeros_like(image)], dim=2)  # averaged over frames
    assert create_loss("tv")(video, None).item() == pytest.approx(0.75)


def test_mse_and_mean_embedding_by_hand():
    s = torch.tensor([[[1.0, 3.0], [2.0, 2.0]]])  # channel means 2 and 2
    t = torch.tensor([[[0.0, 0.0], [4.0, 4.0]]])  # channel means 0 and 4
    assert create_loss("mse")(s, t).item() == pytest.approx((1 + 9 + 4 + 4) / 4)
    assert create_loss("mean_embedding")(s, t).item() == pytest.approx((4 + 4) / 2)
    with pytest.raises(ConfigError, match="differ in shape"):
        create_loss("mse")(s, t[..., :1])


def test_loss_options_are_checked():
    with pytest.raises(ConfigError, match="normalization must be one of"):
        create_loss("gram", normalization="pixels")
    with pytest.raises(ConfigError, match="takes no options"):
        create_loss("mse", weight=2)


@pytest.mark.parametrize("normalization", ["locations", "chw"])
def test_fused_gram_gradient_matches_autograd(normalization):
    loss = create_loss("gram", normalization=normalization)
    torch.manual_seed(0)
    s = torch.randn(2, 5, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 5, 3, 4, 4, dtype=torch.float64)
    prepared = prepare_target(loss, t)
    torch.autograd.gradcheck(lambda x: compare_prepared(loss, x, prepared), (s,))
    plain = ((gram_matrix(s, normalization) - prepared) ** 2).mean()
    (expected,) = torch.autograd.grad(plain, s)
    (fused,) = torch.autograd.grad(compare_prepared(loss, s, prepared), s)
    torch.testing.assert_close(fused, expected)
    torch.testing.assert_close(compare_prepared(loss, s, prepared), plain)


def test_gram_sum_reduction_and_broadcast_target():
    s = torch.randn(3, 4, 5, 5, requires_grad=True)
    t = torch.randn(1, 4, 5, 5)
    summed = create_loss("gram", normalization="chw", reduction="sum")
    prepared = prepare_target(summed, t)  # one target Gram for every sample
    expected = ((gram_matrix(s, "chw") - gram_matrix(t, "chw")) ** 2).sum(dim=(1, 2)).mean()
    torch.testing.assert_close(compare_prepared(summed, s, prepared), expected)
    (fused,) = torch.autograd.grad(compare_prepared(summed, s, prepared), s)
    (plain,) = torch.autograd.grad(expected, s)
    torch.testing.assert_close(fused, plain)
    with pytest.raises(ConfigError, match="reduction must be one of"):
        create_loss("gram", reduction="max")


def test_loss_options_name_the_accepted_keys_and_are_converted():
    with pytest.raises(ConfigError, match=r"^loss 'gram' \(plugin 'losses'\) has no option\(s\) 'norm'; its options: normalization, reduction\.$"):
        create_loss("gram", norm="chw")
    assert create_loss("gram", normalization="chw").normalization == "chw"


def test_the_plugin_guides_loss_keeps_the_prepare_contract(tmp_path, monkeypatch):
    """The worked example of the loss contract: prepared targets once, the same value, broadcast of a batch-1 target."""
    import re
    import sys
    from pathlib import Path

    from stst_core.testing import registered_plugin

    guide = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    source = next(b for b in re.findall(r"^```python\n(.*?)^```", guide, flags=re.M | re.S) if b.startswith("# stst_moments.py"))
    (tmp_path / "stst_moments.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import stst_moments

    try:
        with registered_plugin(stst_moments, name="moments-under-test"):
            loss = create_loss("moments", std_weight="0.5")  # as a config's string gives it
            assert loss.std_weight == 0.5
            with pytest.raises(ConfigError, match=r"^loss 'moments': std_weight must be a number ≥ 0, got -1.0$"):
                create_loss("moments", std_weight=-1)
            s = torch.tensor([[[1.0, 3.0], [2.0, 2.0]]], requires_grad=True)  # channel means 2, 2; stds 1, 0
            t = torch.tensor([[[0.0, 0.0], [3.0, 5.0]]])  # channel means 0, 4; stds 0, 1
            with torch.no_grad():
                prepared = prepare_target(loss, t)
            assert prepared.shape == (1, 2, 2)
            value = compare_prepared(loss, s, prepared)
            assert value.item() == pytest.approx((4 + 4) / 2 + 0.5 * (1 + 1) / 2)  # by hand
            torch.testing.assert_close(value, loss(s, t))
            value.backward()
            assert s.grad.abs().sum() > 0
            # two-stream: a target prepared per frame, averaged over frames, compared with every sample
            frames = torch.randn(5, 4, 6, 6)
            averaged = prepare_target(loss, frames).mean(dim=0, keepdim=True)
            assert compare_prepared(loss, torch.randn(3, 4, 6, 6), averaged).dim() == 0
    finally:
        sys.modules.pop("stst_moments", None)
