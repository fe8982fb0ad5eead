"""Compare candidate front ends for the offline STST preset on real clips.

Each candidate makes a metamer of each clip; every result is then judged by
yardsticks that none of the candidates optimise:

- ``msoe_ref``: Gram distance in the *trained* MSOE network (the paper's
  temporal stream), per frame pair, needs ``../shared/data/msoe/weights.npz``;
- ``vgg_rand`` / ``rms``: spatial Gram distances in a random VGG-19
  (relu1_1…relu4_1) and in the random-multiscale network (3 levels), per frame;
- ``copy``: the highest correlation of a generated frame with any target frame
  (1 = a copy).

Distances are reported as ``noise / result``: how many times closer to the
target the result is than uniform noise (higher is better). Prints one JSON
line per (clip, candidate) and saves a contact sheet per run into ``--out``.

Usage: ``python benchmarks/offline_preset.py --clip bikes.mp4:140 --clip other.mp4:0 --frames 6 --size 96``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from stst_core import contact_sheet, create_backbone, create_loss, read_video
from stst_styletransfer.synthesizer import STSTSynthesizer

DATA = Path(os.environ.get("STST_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

SCHEDULE = ["octaves=[{scale=-1, steps=100, lr=0.02}, {scale=0, steps=60, lr=0.01}]", "burn_in=3"]
RMS3 = [
    "spatial.backbone=random-multiscale",
    "spatial.weights=random",
    "spatial.options={levels=3}",
    "spatial.style_layers=['level0','level1','level2']",
    "spatial.content_layers=[]",
]
CANDIDATES = {
    "vgg-random + msoe-analytic": ["spatial.weights=random", "spatial.style_layers=['relu1_1','relu2_1','relu3_1','relu4_1']", "temporal.weights=analytic"],
    "random-multiscale + msoe-analytic": [*RMS3, "temporal.weights=analytic"],
    "random-multiscale + msoe-random": [*RMS3, "temporal.weights=random"],
}


def gram_distances(frames: torch.Tensor, target: torch.Tensor, judges) -> dict[str, float]:
    """Mean Gram distance per judge between a video and the target, both ``(1, 3, T, H, W)``."""
    gram = create_loss("gram")
    scores = {}
    with torch.no_grad():
        for name, (net, layers, pairs) in judges.items():
            values = []
            for t in range(1 if pairs else 0, frames.shape[2]):
                window = slice(t - 1, t + 1) if pairs else slice(t, t + 1)
                a, b = net(frames[:, :, window], layers), net(target[:, :, window], layers)
                values.append(np.mean([float(gram(a[l], b[l])) for l in layers]))
            scores[name] = float(np.mean(values))
    return scores


def copy_score(frames: torch.Tensor, target: torch.Tensor) -> float:
    a = frames[0].transpose(0, 1).reshape(frames.shape[2], -1)
    b = target[0].transpose(0, 1).reshape(target.shape[2], -1)
    a = (a - a.mean(1, keepdim=True)) / a.std(1, keepdim=True)
    b = (b - b.mean(1, keepdim=True)) / b.std(1, keepdim=True)
    return float((a @ b.T / a.shape[1]).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", action="append", required=True, help="PATH[:START] of a natural video (repeatable)")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--candidate", action="append", help="only these candidates (default: all)")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra overrides for every candidate")
    parser.add_argument("--out", type=Path, default=Path("offline-preset-runs"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    judges = {
        "msoe_ref": (create_backbone("msoe", weights=str(DATA / "msoe" / "weights.npz")), ["concat"], True),
        "vgg_rand": (create_backbone("vgg19", weights="random", seed=123), ["relu1_1", "relu2_1", "relu3_1", "relu4_1"], False),
        "rms": (create_backbone("random-multiscale", seed=123, levels=3), ["level0", "level1", "level2"], False),
    }
    for clip in args.clip:
        path, _, start = clip.partition(":")
        target = read_video(path, start=int(start or 0), num_frames=args.frames, size=args.size)
        batch = target.batch()
        noise = torch.rand(batch.shape, generator=torch.Generator().manual_seed(0))
        baseline = gram_distances(noise, batch, judges)
        for name, overrides in CANDIDATES.items():
            if args.candidate and name not in args.candidate:
                continue
            config = STSTSynthesizer.resolve("paper", overrides=[*overrides, *SCHEDULE, *args.extra])
            began = time.perf_counter()
            run = args.out / f"{Path(path).stem}-{start or 0}-{name.replace(' ', '').replace('+', '_')}.zarr"
            store = STSTSynthesizer({"content": target}, config, seed=0).synthesize(run, overwrite=True, progress=False)
            seconds = time.perf_counter() - began
            result = store.video()
            scores = gram_distances(result.batch(), batch, judges)
            contact_sheet([("target", target), (name, result)], run.with_suffix(".png"), title=name)
            print(
                json.dumps(
                    {
                        "clip": clip,
                        "candidate": name,
                        "seconds": round(seconds, 1),
                        **{f"{k}_x": round(baseline[k] / scores[k], 2) for k in scores},
                        "copy": round(copy_score(result.batch(), batch), 3),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
