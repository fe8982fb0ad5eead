"""The toy world (clips with a known motion, two classifiers of it) and the scoring of inversions on it (stst leaps-eval)."""

import csv
import json

import pytest
import torch

from stst_core import ConfigError, STSTError, Video, create_backbone, open_store, save_model
from stst_core.testing import run_cli
from stst_leaps import LEAPSSynthesizer
from stst_leaps.evaluate import direction_of, warp_error
from stst_toyworld import DIRECTIONS, ToyClassifier, ToyJudge, WorldSpec, accuracy, make_clip, make_world, read_world, train
from stst_toyworld.networks import run

SMALL = WorldSpec(frames=4, size=16)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("speed", [1, 2])
def test_a_clip_moves_its_label_s_way(direction, speed):
    clip = make_clip(direction, speed, WorldSpec(frames=5, size=24, noise=0.0), torch.Generator().manual_seed(3))
    dy, dx = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}[direction]
    for t in range(4):
        assert torch.allclose(torch.roll(clip[:, t], (dy * speed, dx * speed), dims=(1, 2)), clip[:, t + 1])
    assert not torch.allclose(clip[:, 0], clip[:, 1])  # it does move
    # the weight-free flow of the clip agrees (v points down)
    from stst_metrics.flow import flow_statistics

    assert direction_of(flow_statistics(Video(clip, fps=12.0)).mean_velocity) == direction


def test_a_world_round_trips_through_its_files(tmp_path):
    world = make_world(tmp_path / "world", clips_per_class=4, heldout=0.25, spec=SMALL, seed=1)
    with open(world / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 16 and {r["label"] for r in rows} == set(DIRECTIONS)
    clips, targets, kept = read_world(world, "heldout")
    assert clips.shape == (4, 3, 4, 16, 16) and sorted(targets.tolist()) == [0, 1, 2, 3]
    train_clips, _, _ = read_world(world, "train")
    assert train_clips.shape[0] == 12
    # the same seed makes the same clips (FFV1 keeps the 8-bit values exactly)
    again = make_world(tmp_path / "again", clips_per_class=4, heldout=0.25, spec=SMALL, seed=1)
    assert torch.equal(read_world(again, "heldout")[0], clips)
    with pytest.raises(ConfigError, match="already holds a toy world"):
        make_world(world, clips_per_class=4, spec=SMALL)
    with pytest.raises(ConfigError, match="not a toy world .* stst toyworld make"):
        read_world(tmp_path, "train")


def test_accuracy_counts_the_target_among_the_top_k():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0]])
    targets = torch.tensor([0, 2, 0])
    assert accuracy(logits, targets) == pytest.approx(1 / 3)
    assert accuracy(logits, targets, k=2) == pytest.approx(2 / 3)
    assert accuracy(logits, targets, k=5) == 1.0


@pytest.mark.parametrize(("cls", "name", "other"), [(ToyClassifier, "toy-classifier", "toy-judge"), (ToyJudge, "toy-judge", "toy-classifier")])
def test_a_trained_file_is_the_backbone(tmp_path, cls, name, other):
    torch.manual_seed(0)
    model = cls().eval()
    path = save_model(model, tmp_path / f"{name}.safetensors", architecture=name, options={"classes": list(DIRECTIONS)})
    net = create_backbone(name, str(path))
    video = torch.rand(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = run(model, video, ["conv2", "logits"])
        got = net(video, ["conv2", "logits"])
    assert torch.equal(got["logits"], expected["logits"]) and torch.equal(got["conv2"], expected["conv2"])
    assert net.card.classes == DIRECTIONS
    with pytest.raises(STSTError, match=name):
        create_backbone(other, str(path))


@pytest.mark.slow
def test_both_classifiers_learn_the_world(tmp_path):
    world = make_world(tmp_path / "world", clips_per_class=12, heldout=0.25, spec=WorldSpec(frames=6, size=24), seed=0)
    for name in ("toy-classifier", "toy-judge"):
        scores = train(world, tmp_path / f"{name}.safetensors", architecture=name, steps=150, progress=False)
        assert scores["heldout_accuracy"] >= 0.95, (name, scores)
        net = create_backbone(name, str(tmp_path / f"{name}.safetensors"))
        clips, targets, _ = read_world(world, "heldout")
        with torch.no_grad():
            assert accuracy(net(clips, ["logits"])["logits"], targets) == pytest.approx(scores["heldout_accuracy"])


def test_warp_error_tells_motion_from_flicker():
    generator = torch.Generator().manual_seed(0)
    moving = make_clip("right", 1, WorldSpec(frames=6, size=32, noise=0.0), generator)
    gains = torch.tensor([1.0, 0.6, 1.0, 0.6, 1.0, 0.6]).view(1, 6, 1, 1)
    flickering = (0.5 + (moving - 0.5) * gains).clamp(0, 1)
    still, flicker = warp_error(Video(moving, fps=12.0)), warp_error(Video(flickering, fps=12.0))
    assert still < 0.01 and flicker > 3 * still
    assert [direction_of(v) for v in [(1, 0), (0, 1), (-1, 0), (0, -1), (1, 1)]] == ["right", "down", "left", "up", "down-right"]


@pytest.mark.slow
def test_leaps_eval_scores_the_samples_of_a_store(tmp_path):
    clip = make_clip("right", 1, WorldSpec(frames=6, size=16), torch.Generator().manual_seed(0))  # oriented energy needs 5 frames
    stimulus = tmp_path / "stimulus.mkv"
    from stst_core import write_video

    write_video(Video(clip, fps=12.0), stimulus, lossless=True)
    overrides = ["weights=random", "target_class=right", "steps=2", "samples=3", "warmup=1"]
    LEAPSSynthesizer({"content": Video(clip, fps=12.0)}, LEAPSSynthesizer.resolve("fast", overrides=overrides), seed=0).synthesize(
        tmp_path / "out.zarr", progress=False
    )
    result = run_cli(
        "leaps-eval", tmp_path / "out.zarr", "--judge", "toy-judge", "--judge-weights", "random", "--stimulus", stimulus, "-o", tmp_path / "eval.json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval.json").read_text())
    assert len(report["rows"]) == 3 and {r["target"] for r in report["rows"]} == {"right"}
    net = create_backbone("toy-judge", "random")
    videos = torch.stack([open_store(tmp_path / "out.zarr").video(sample=s).frames for s in range(3)])
    with torch.no_grad():
        says = net(videos, ["logits"])["logits"].argmax(-1)
    assert report["summary"]["toy-judge:top1"] == pytest.approx(float((says == 0).float().mean()))
    assert all(0 <= r["oriented_energy"] for r in report["rows"]) and "flow_direction" in report["rows"][0]
    bad = run_cli("leaps-eval", tmp_path / "out.zarr", "--judge", "msoe", "--judge-weights", "analytic")
    assert bad.exit_code == 1 and "no classifier" in bad.output
