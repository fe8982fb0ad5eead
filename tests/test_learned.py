"""Learned models: a training loop that resumes exactly after a kill, and weights with a card that load as a backbone."""

import json

import pytest
import torch

from stst_core import ConfigError, STSTError, Video, WeightsError, card_path, create_backbone, fit, load_model, save_model


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def setup(seed=0):
    torch.manual_seed(seed)
    model = Tiny()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    return model, optimizer, scheduler


def regression(model, generator):
    x = torch.randn(16, 4, generator=generator)  # the batch comes from the run's generator
    return ((model.net(x).squeeze(1) - x.sum(1)) ** 2).mean()


class Killed(BaseException):
    pass


def test_a_killed_training_resumes_bit_identically(tmp_path):
    model, optimizer, scheduler = setup()
    uninterrupted = fit(
        model, regression, steps=20, optimizer=optimizer, scheduler=scheduler, checkpoint=tmp_path / "a.safetensors", checkpoint_every=4, progress=False
    )
    assert uninterrupted[-1] < uninterrupted[0] / 2  # it learns
    calls = {"n": 0}

    def dies_at_step_11(model, generator):
        calls["n"] += 1
        if calls["n"] == 11:
            raise Killed
        return regression(model, generator)

    killed, optimizer2, scheduler2 = setup()
    with pytest.raises(Killed):
        fit(
            killed,
            dies_at_step_11,
            steps=20,
            optimizer=optimizer2,
            scheduler=scheduler2,
            checkpoint=tmp_path / "b.safetensors",
            checkpoint_every=4,
            progress=False,
        )
    resumed, optimizer3, scheduler3 = setup(seed=99)  # another initialisation: everything comes from the checkpoint
    losses = fit(
        resumed, regression, steps=20, optimizer=optimizer3, scheduler=scheduler3, checkpoint=tmp_path / "b.safetensors", checkpoint_every=4, progress=False
    )
    assert losses == uninterrupted
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    model, optimizer, _ = setup()
    fit(model, regression, steps=2, optimizer=optimizer, checkpoint=tmp_path / "c.safetensors", settings={"lr": 0.05}, progress=False)
    model, optimizer, _ = setup()
    with pytest.raises(STSTError, match="checkpoint of another training run"):
        fit(model, regression, steps=2, optimizer=optimizer, checkpoint=tmp_path / "c.safetensors", settings={"lr": 0.1}, progress=False)


def test_a_nan_loss_names_the_step(tmp_path):
    model, optimizer, _ = setup()
    with pytest.raises(STSTError, match="loss became nan at step 0"):
        fit(model, lambda m, g: regression(m, g) * float("nan"), steps=3, optimizer=optimizer, checkpoint_every=1, progress=False)


def test_save_and_load_with_a_card(tmp_path):
    model, _, _ = setup()
    data = [Video(torch.rand(3, 2, 8, 8), fps=25, source="clip.mp4")]
    path = save_model(model, tmp_path / "tiny.safetensors", architecture="tiny", options={"width": 8}, data=data, training={"steps": 3})
    card = json.loads(card_path(path).read_text())
    assert card["architecture"] == "tiny" and card["options"] == {"width": 8} and card["training"] == {"steps": 3}
    assert card["data"][0]["source"] == "clip.mp4" and len(card["data"][0]["sha256"]) == 64 and "torch" in card["versions"]
    state, loaded_card = load_model(path, architecture="tiny")
    assert loaded_card == card and all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    card_path(path).unlink()  # the card is embedded in the file too
    assert load_model(path)[1]["architecture"] == "tiny"
    with pytest.raises(WeightsError, match="holds a 'tiny' model, not a 'prednet' one"):
        load_model(path, architecture="prednet")
    with pytest.raises(ConfigError, match=r"saved as \.safetensors"):
        save_model(model, tmp_path / "tiny.pt", architecture="tiny", options={})


def test_a_trained_prednet_loads_again_as_a_backbone_by_path(tmp_path):
    from stst_prednet import PredNetConfig
    from stst_prednet.training import save, train

    clips = [torch.rand(3, 6, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    config = PredNetConfig(channels=[3, 4, 8], layer_weights=[1.0, 0.0, 0.0])
    result = train(clips, config=config, frames=4, steps=4, batch=2, progress=False, checkpoint=tmp_path / "ckpt.safetensors", checkpoint_every=2)
    path = save(result.model, tmp_path / "prednet.safetensors", size=16, frames=4)
    net = create_backbone("prednet", weights=str(path))
    clip = torch.rand(1, 3, 3, 16, 16)
    torch.testing.assert_close(net(clip, ["prediction"])["prediction"], result.model(clip)["prediction"], rtol=0, atol=0)
    again = train(clips, config=config, frames=4, steps=4, batch=2, progress=False, checkpoint=tmp_path / "ckpt.safetensors", checkpoint_every=2)
    assert again.losses == result.losses  # a finished checkpoint: nothing trained again
