"""PredNet: causality, learning to predict a translating texture, saving, the backbone, the commands."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from stst_core import BackboneError, Video, create_backbone, write_video
from stst_core.cli import build_cli
from stst_prednet.network import PredNet, PredNetConfig
from stst_prednet.training import evaluate, load, save, train


def translating(n, seed, size=32, frames=12, speed=1):
    generator = torch.Generator().manual_seed(seed)
    clips = []
    for _ in range(n):
        base = F.avg_pool2d(torch.rand(1, 3, size, size * 2, generator=generator), 3, 1, 1)[0]
        base = (base - base.min()) / (base.max() - base.min())
        clips.append(torch.stack([torch.roll(base, speed * t, dims=2)[:, :, :size] for t in range(frames)], 1))
    return clips


@pytest.fixture
def one_thread():
    # a tiny network gains nothing from a second thread, and one thread is not slowed by a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return PredNet(PredNetConfig(channels=[3, 8, 16], layer_weights=[1.0, 0.0, 0.0]))


def test_shapes_and_units(small):
    clip = torch.rand(2, 3, 5, 32, 32)
    out = small(clip, keep=("prediction", "R1", "E2", "errors"))
    assert out["prediction"].shape == (2, 3, 5, 32, 32)
    assert out["R1"].shape == (2, 8, 5, 16, 16) and out["E2"].shape == (2, 32, 5, 8, 8)
    assert out["errors"].shape == (2, 3, 5)
    assert out["prediction"].min() >= 0 and out["prediction"].max() <= 1


def test_predictions_never_see_the_frame_they_predict(small):
    clip = torch.rand(1, 3, 6, 32, 32)
    changed = clip.clone()
    changed[:, :, 3] = torch.rand(3, 32, 32)
    a, b = small(clip)["prediction"], small(changed)["prediction"]
    torch.testing.assert_close(a[:, :, :4], b[:, :, :4])  # frames 0-3 are predicted from frames before them
    assert not torch.allclose(a[:, :, 4], b[:, :, 4])


def test_sizes_must_divide(small):
    with pytest.raises(ValueError, match="divisible by 4"):
        small(torch.rand(1, 3, 2, 30, 32))


def test_training_beats_copying_the_last_frame(one_thread):
    """A translating texture: copying the last frame is wrong by the motion; PredNet learns to shift."""
    result = train(translating(16, seed=0), config=PredNetConfig(channels=[3, 8, 16]), frames=6, steps=250, batch=4, lr=5e-3, progress=False)
    report = evaluate(result.model, {"unseen": translating(6, seed=1)}, frames=6)["unseen"]
    assert report["prediction_mse"] < 0.85 * report["copy_last_frame_mse"], report
    assert result.losses[-1] < 0.5 * result.losses[0]


def test_save_load_and_backbone(tmp_path, small):
    path = save(small, tmp_path / "model.safetensors", size=32, frames=6)
    card = json.loads((tmp_path / "model.safetensors.json").read_text())
    assert card["architecture"] == "prednet" and card["options"] == small.config.as_dict() and card["training"] == {"size": 32, "frames": 6}
    legacy = tmp_path / "model.pt"  # the format of earlier releases still loads
    torch.save(small.state_for_saving(), legacy)
    probe = torch.rand(1, 3, 2, 32, 32)
    torch.testing.assert_close(load(legacy)(probe)["prediction"], small(probe)["prediction"], rtol=0, atol=0)
    again = load(path)
    clip = torch.rand(1, 3, 4, 32, 32)
    torch.testing.assert_close(again(clip)["prediction"], small(clip)["prediction"])
    net = create_backbone("prednet", weights=str(path))
    assert list(net.layers) == ["R0", "R1", "R2", "E0", "E1", "E2", "prediction"]
    out = net(clip, ["R1", "prediction"])
    torch.testing.assert_close(out["prediction"], small(clip)["prediction"])
    assert out["R1"].shape == (1, 8, 4, 16, 16)
    with pytest.raises(BackboneError, match="divisible by 4"):
        net(torch.rand(1, 3, 2, 30, 30))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(Exception, match="cannot load a PredNet model"):
        create_backbone("prednet", weights=str(tmp_path / "junk.pt"))


def test_train_and_eval_commands(tmp_path):
    paths = []
    for i, clip in enumerate(translating(3, seed=2, frames=8)):
        paths.append(tmp_path / f"clip{i}.npz")
        write_video(Video(clip.contiguous(), 25), paths[-1])
    runner = CliRunner()
    model = tmp_path / "prednet.safetensors"
    result = runner.invoke(
        build_cli(),
        ["prednet", "train", *map(str, paths), "-o", str(model), "--square", "32", "--frames", "4", "--steps", "3", "--channels", "3,4,8", "--quiet"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "prednet.safetensors.json").read_text())
    assert len(card["data"]) == 3 and all(len(d["sha256"]) == 64 for d in card["data"]) and card["training"]["steps"] == 3
    assert not (tmp_path / "prednet.checkpoint.safetensors").exists()  # removed once the model is written
    report_path, plot_path = tmp_path / "report.json", tmp_path / "report.png"
    result = runner.invoke(
        build_cli(),
        [
            "prednet",
            "eval",
            str(model),
            "--condition",
            f"natural={paths[0]},{paths[1]}",
            "--condition",
            f"metamer={paths[2]}",
            "-o",
            str(report_path),
            "--plot",
            str(plot_path),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["frames"] == 4 and report["size"] == 32
    assert report["conditions"]["natural"]["videos"] == 2 and report["conditions"]["metamer"]["videos"] == 1
    assert "copy-last-frame" in result.output and plot_path.stat().st_size > 5000
    bad = runner.invoke(build_cli(), ["prednet", "train", str(paths[0]), "-o", str(model), "--channels", "1,4"])
    assert bad.exit_code == 1 and "start with 3" in bad.output and len(bad.output.strip().splitlines()) == 1
    assert Path(model).is_file()
