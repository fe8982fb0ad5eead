"""LEAPS: every term of the objective against hand computations, the schedule, the augmentation, and the synthesizer's refusals."""

import math

import pytest
import torch
from torch import nn

from stst_core import ConfigError, Video, warmup_cosine
from stst_core.testing import run_cli
from stst_leaps import (
    BatchNormStatistics,
    LEAPSSynthesizer,
    augment,
    batchnorm_weights,
    coherence,
    cross_entropy,
    image_prior,
    jvs,
    mean_embedding,
    priming_loss,
)

QUICK = ["backbone=r3d_18", "weights=random", "diversity_weight=0.05", "steps=2", "samples=2", "warmup=1", "jitter=2"]


def clip(frames=4, size=32, seed=0):
    return Video(torch.rand(3, frames, size, size, generator=torch.Generator().manual_seed(seed)), fps=25, source=f"noise {seed}")


# -- the terms -----------------------------------------------------------------------------


def test_jvs_is_the_tanimoto_coefficient():
    a, b = torch.tensor([[1.0, 2.0, 0.0], [1.0, -1.0, 3.0]]), torch.tensor([[2.0, 2.0, 1.0], [1.0, -1.0, 3.0]])
    # a·b / (|a|² + |b|² − a·b): 6 / (5 + 9 − 6) for the first pair; identical vectors give 1
    assert torch.allclose(jvs(a, b), torch.tensor([6 / 8, 1.0]))
    assert float(jvs(torch.zeros(3), torch.zeros(3))) == 1.0
    assert float(jvs(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0]))) == pytest.approx(-1 / 3)


def test_mean_embedding_averages_every_axis_but_the_channels():
    z = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    assert torch.equal(mean_embedding(z, "CTW"), z.mean(dim=(2, 3)))
    assert torch.equal(mean_embedding(z.permute(0, 2, 1, 3), "TCW"), z.mean(dim=(2, 3)))
    assert torch.equal(mean_embedding(z[:, :, 0, 0], "C"), z[:, :, 0, 0])


def test_priming_over_layers():
    x = {"a": torch.tensor([[1.0, 2.0], [0.0, 1.0]]), "b": torch.tensor([[3.0], [1.0]])}
    v = {"a": torch.tensor([[2.0, 2.0], [0.0, 1.0]]), "b": torch.tensor([[1.0], [1.0]])}
    weights = {"a": 2.0, "b": 0.5}
    # paper: 1/L Σ λ_l mean_b (1 − JVS); a: (1 − 6/7, 0), b: (1 − 3/(9 + 1 − 3), 0)
    expected = (2.0 * (1 - 6 / 7) / 2 + 0.5 * (1 - 3 / 7) / 2) / 2
    assert float(priming_loss(x, v, weights)) == pytest.approx(expected)
    # released: 1/L Σ λ_l Σ_{b,c} |μx − μv|
    assert float(priming_loss(x, v, weights, similarity="l1")) == pytest.approx((2.0 * 1 + 0.5 * 2) / 2)
    assert float(priming_loss(v, v, weights)) == 0.0


def test_coherence_as_the_paper_writes_it():
    z = torch.tensor([0.0, 0.5, 3.0]).view(1, 1, 3)  # (B, C, T): one feature per time step
    # consecutive: mean(0.5, 2.5); apart: max(0, δ − 3)
    assert float(coherence(z, "CT", delta=1.0)) == pytest.approx(1.5)
    assert float(coherence(z, "CT", delta=4.0)) == pytest.approx(1.5 + 1.0)
    # the distance is the mean absolute difference over the features, so doubling them changes nothing
    assert float(coherence(z.repeat(1, 2, 1), "CT", delta=4.0)) == pytest.approx(2.5)
    assert float(coherence(z[..., :1], "CT")) == 0.0


@pytest.mark.parametrize(("values", "expected"), [([0.0, 3.0, 1.0, 0.0], 14.0), ([0.0, 0.0, 2.0, 0.0], 15.0)])
def test_coherence_as_the_released_code_computes_it(values, expected):
    # T = 4: Σ|Δz| plus, over a, k in 0…2, h = max(0, 1 − (z[k+1] − z[a])) where k < a and 1 elsewhere:
    # (1, 0) and (2, 1) give 1, (2, 0) gives max(0, 1 − z1 + z2), the six others 1
    z = torch.tensor(values).view(1, 1, 4)
    smooth = sum(abs(b - a) for a, b in zip(values, values[1:]))
    assert smooth + 8 + max(0.0, 1 - values[1] + values[2]) == expected
    assert float(coherence(z, "CT", form="released")) == pytest.approx(expected)
    assert float(coherence(z.repeat(2, 1, 1), "CT", form="released")) == pytest.approx(expected)  # divided by the batch


def test_batchnorm_statistics_against_a_hand_computation():
    net = nn.Sequential(nn.Conv3d(2, 2, 1, bias=False), nn.BatchNorm3d(2), nn.ReLU(), nn.BatchNorm3d(2)).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2).view(2, 2, 1, 1, 1))
        net[1].running_mean.copy_(torch.tensor([0.5, -1.0]))
        net[1].running_var.copy_(torch.tensor([2.0, 1.0]))
    stats = BatchNormStatistics(net, first_weight=10.0)
    x = torch.randn(3, 2, 2, 2, 2, generator=torch.Generator().manual_seed(0))
    net(x)
    mean, var = x.mean(dim=(0, 2, 3, 4)), x.var(dim=(0, 2, 3, 4), unbiased=False)
    first = torch.linalg.vector_norm(torch.tensor([2.0, 1.0]) - var) + torch.linalg.vector_norm(torch.tensor([0.5, -1.0]) - mean)
    second_input = torch.relu((x - net[1].running_mean.view(1, 2, 1, 1, 1)) / torch.sqrt(net[1].running_var.view(1, 2, 1, 1, 1) + net[1].eps))
    m2, v2 = second_input.mean(dim=(0, 2, 3, 4)), second_input.var(dim=(0, 2, 3, 4), unbiased=False)
    second = torch.linalg.vector_norm(1 - v2) + torch.linalg.vector_norm(m2)
    assert batchnorm_weights(2) == [10.0, 11.0]
    assert float(stats.loss().detach()) == pytest.approx(float(10 * first + 11 * second), rel=1e-5)
    with pytest.raises(RuntimeError, match="before a forward pass"):
        stats.loss()
    with pytest.raises(ValueError, match="no BatchNorm"):
        BatchNormStatistics(nn.Sequential(nn.Conv3d(2, 2, 1), nn.LayerNorm(2)))


def test_cross_entropy_and_the_double_softmax():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    expected = -torch.log_softmax(logits, -1)[:, 0].mean()
    assert float(cross_entropy(logits, 0)) == pytest.approx(float(expected))
    twice = -torch.log_softmax(logits.softmax(-1), -1)[:, 0].mean()
    assert float(cross_entropy(logits, 0, double_softmax=True)) == pytest.approx(float(twice))


def test_image_prior_is_the_mean_l2_norm():
    x = torch.zeros(2, 3, 1, 1, 2)
    x[0, 0, 0, 0, 0], x[1, 1, 0, 0, 1], x[1, 2, 0, 0, 0] = 3.0, 3.0, 4.0
    assert float(image_prior(x)) == pytest.approx((3 + 5) / 2)


def test_the_learning_rate_warms_up_then_follows_a_cosine_to_its_floor():
    schedule = warmup_cosine(0.6, 100, 1500, 0.005)
    assert schedule(0) == pytest.approx(0.006) and schedule(99) == pytest.approx(0.6)
    assert schedule(100) == pytest.approx(0.6)
    assert schedule(800) == pytest.approx(0.6 * 0.5 * (1 + math.cos(math.pi * 700 / 1400)))
    assert schedule(1499) == pytest.approx(0.005)  # the floor, not 0
    assert all(schedule(s) >= schedule(s + 1) for s in range(100, 1499))


def test_augmentation_rolls_and_flips_the_whole_batch_alike():
    video = torch.arange(2 * 3 * 2 * 5 * 6, dtype=torch.float32).reshape(2, 3, 2, 5, 6)
    assert torch.equal(augment(video, generator=torch.Generator().manual_seed(0), jitter=0, flip=0.0), video)
    seen = set()
    for seed in range(40):
        out = augment(video, generator=torch.Generator().manual_seed(seed), jitter=2, flip=0.5)
        assert out.shape == video.shape
        # the same permutation of (y, x) for every sample, channel and frame: one roll, maybe one flip
        match = [(dy, dx, f) for dy in range(-2, 3) for dx in range(-2, 3) for f in (0, 1) if torch.equal(out, _moved(video, dy, dx, f))]
        assert match, "not a roll of at most 2 pixels and a flip"
        seen.add(match[0][2])
        again = augment(video, generator=torch.Generator().manual_seed(seed), jitter=2, flip=0.5)
        assert torch.equal(out, again)
    assert seen == {0, 1}


def _moved(video, dy, dx, flip):
    out = torch.roll(video, (dy, dx), dims=(-2, -1))
    return out.flip(-1) if flip else out


# -- the synthesizer ------------------------------------------------------------------------


def make(overrides=(), videos=None, **kwargs):
    videos = videos or [clip()]
    targets = {LEAPSSynthesizer.input_role(i): v for i, v in enumerate(videos)}
    return LEAPSSynthesizer(targets, LEAPSSynthesizer.resolve("fast", overrides=[*QUICK, *overrides]), seed=0, **kwargs)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["target_class=juggling ball"], "did you mean 'juggling balls'"),
        (["target_class=400"], "not among the 400 classes"),
        (["backbone=msoe", "weights=analytic"], "no classifier"),
        (["prime_layers=['nosuch']"], "no layer 'nosuch'"),
        (["coherence_layer=middle"], "no layer 'middle'"),
        (["priming_weights=[1.0, 2.0]", "prime_layers=['layer1']"], "2 weights for 1 priming layers"),
        (["coherence_layer=logits", "prime_layers=['logits']"], "time axis"),
        (["backbone=nosuch"], "nosuch"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, overrides, says):
    with pytest.raises(ConfigError, match=says):
        make(overrides).synthesize(tmp_path / "out.zarr", progress=False)
    assert not (tmp_path / "out.zarr").exists()


@pytest.mark.parametrize(("where", "layer"), [("last", "layer4"), ("first", "layer1"), ("layer2", "layer2")])
def test_the_coherence_layer_by_keyword_or_name(where, layer):
    synth = make([f"coherence_layer={where}", "prime_layers=['logits', 'layer1', 'layer2', 'layer4']"])
    synth.prepare()
    assert synth.coherence_layer == layer  # logits has no time axis: "first" and "last" skip it
    assert layer in synth.layers


def test_a_stimulus_of_another_size_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="stimulus 2 .* is 4 frames of 40x40 but the first .* 4 frames of 32x32"):
        make(videos=[clip(), clip(size=40)]).synthesize(tmp_path / "out.zarr", progress=False)
    assert not (tmp_path / "out.zarr").exists()


def test_a_verifier_without_batchnorm_is_refused(tmp_path):
    from stst_core import Backbone, BackboneCard, LayerSpec, WeightsChoice, hookimpl
    from stst_core.testing import registered_plugin

    class LayerNormNet(Backbone):
        weights_choices = (WeightsChoice("random", "PyTorch's initialisation"),)

        def __init__(self, weights=None):
            super().__init__(BackboneCard(name="layernorm-net"), [LayerSpec("logits", "C", 2)], ["logits"], weights=weights)
            self.norm = nn.LayerNorm(3)

        def compute(self, video, layers):
            return {"logits": self.norm(video.mean(dim=(2, 3, 4), keepdim=False).view(video.shape[0], 3))[:, :2]}

    class Plugin:
        @hookimpl
        def stst_register_backbones(self, register):
            register("layernorm-net", LayerNormNet)

    with registered_plugin(Plugin(), "layernorm-test"):
        with pytest.raises(ConfigError, match="verifier layernorm-net .* no BatchNorm layer .*diversity_weight=0"):
            make(["verifier=layernorm-net", "verifier_weights=random"]).synthesize(tmp_path / "out.zarr", progress=False)
        # as the inverted model it works: the diversity term is the verifier's
        store = make(["backbone=layernorm-net", "prime_layers=['logits']", "coherence_weight=0", "diversity_weight=0"]).synthesize(
            tmp_path / "ln.zarr", progress=False
        )
        assert store.status == "complete"
    assert not (tmp_path / "out.zarr").exists()


def test_a_class_by_name_and_the_samples_primed_in_turn(tmp_path):
    synth = make(["target_class=Juggling_Balls", "samples=3"], videos=[clip(seed=0), clip(seed=1)])
    synth.synthesize(tmp_path / "out.zarr", progress=False)
    assert synth.net.card.classes[synth.target] == "juggling balls"
    # sample b is primed by stimulus b mod 2: samples 0 and 2 share their stimulus's embeddings
    for primes in synth.primes.values():
        assert torch.equal(primes[0], primes[2]) and not torch.equal(primes[0], primes[1])


def test_keep_best_returns_the_samples_at_the_lowest_loss(tmp_path):
    synth = make(["keep_best=true", "steps=4", "lr=0.5"])
    store = synth.synthesize(tmp_path / "out.zarr", progress=False)
    totals = (store.array("loss").values * torch.tensor(synth.term_weights()).numpy()).sum(axis=1)
    assert float(synth.best[0]) == pytest.approx(float(totals.min()), rel=1e-5)
    assert torch.equal(torch.from_numpy(store.array("video").values), synth.best[1].cpu().transpose(1, 2))


@pytest.mark.slow
def test_the_command_line_end_to_end(tmp_path):
    from stst_core import write_video

    path = tmp_path / "stimulus.mp4"
    write_video(clip(frames=8), path)
    result = run_cli(
        "synth",
        "leaps",
        path,
        "--backbone",
        "r3d_18",
        "--weights",
        "random",
        "--class",
        "0",
        "--set",
        "steps=3",
        "--set",
        "samples=2",
        "-o",
        tmp_path / "out.zarr",
    )
    assert result.exit_code == 0, result.output
    from stst_core import open_store

    store = open_store(tmp_path / "out.zarr")
    assert store.status == "complete" and store.array("video").shape == (2, 8, 3, 32, 32)
    assert store.config["target_class"] == "0" and store.config["backbone"] == "r3d_18"


def test_kinetics400_weights_downloaded_over_loopback_invert_by_class_name(served_mc3_18, tmp_path):
    """The path pretrained weights take: a download (from a loopback server), the checksum, the card's class names."""
    model, _, prefix, requests = served_mc3_18
    synth = make(["backbone=mc3_18", "weights=kinetics400", "target_class=juggling balls"])
    store = synth.synthesize(tmp_path / "out.zarr", progress=False)
    assert requests == [f"/mc3_18-{prefix}.pth"] and store.status == "complete"
    assert synth.net.card.weights == "kinetics400" and synth.target == synth.net.card.classes.index("juggling balls")
    torch.testing.assert_close(synth.net.net.stem[0].weight, model.stem[0].weight, rtol=0, atol=0)
