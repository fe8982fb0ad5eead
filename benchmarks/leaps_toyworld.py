"""LEAPS on the toy world, where the truth is known: does a held-out judge see the class, does the video move that way, and what does the coherence term do?

Makes a toy world (``stst toyworld make``), trains its BatchNorm classifier
and its judge (``stst toyworld train``), then inverts the classifier towards
each of the four directions with the ``fast`` preset, primed by held-out
clips of that direction, in three variants of the coherence term: the
preset's (first layer, weight 0.15, no hinge), off, and the paper's placement
(last layer, weight 0.1, δ 1). Each run is scored by the judge (top-1), by
the direction of its mean optical flow, and by its temporal smoothness:
``frame_change``, the mean absolute change from one frame to the next, and
flicker, the warp error left after following the flow (the stimuli's are
printed too). Prints a table on stderr and one JSON object on stdout.

Usage::

    python benchmarks/leaps_toyworld.py [--stimuli 2] [--seeds 1] [--out leaps.json]

About 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from stst_core import format_table, read_video

# the coherence term's variants: settings over the fast preset's
VARIANTS = {
    "preset": [],
    "off": ["coherence_weight=0"],
    "last-layer": ["coherence_layer=last", "coherence_weight=0.1", "delta=1"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stimuli", type=int, default=2, help="held-out clips of each direction to prime with")
    parser.add_argument("--seeds", type=int, default=1, help="synthesis seeds per stimulus")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="variants of the coherence term to compare")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="more settings of the fast preset")
    parser.add_argument("--keep", type=Path, help="keep the world, the models and the stores here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from stst_leaps import LEAPSSynthesizer
    from stst_leaps.evaluate import Judge, evaluate, warp_error
    from stst_toyworld import DIRECTIONS, make_world, train

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="leaps-toyworld-") as scratch:
        folder = args.keep or Path(scratch)
        world = make_world(folder / "world", clips_per_class=48, seed=0)
        accuracy = {
            name: train(world, folder / "models" / f"{name}.safetensors", architecture=name, progress=False) for name in ("toy-classifier", "toy-judge")
        }
        classifier, judge = folder / "models" / "toy-classifier.safetensors", folder / "models" / "toy-judge.safetensors"
        rows = []
        for variant in args.variants:
            for direction in DIRECTIONS:
                for index in range(args.stimuli):
                    path = world / "heldout" / direction / f"{36 + index:04d}.mkv"
                    stimulus = read_video(path)
                    for seed in range(args.seeds):
                        overrides = [f"weights={classifier}", f"target_class={direction}", *VARIANTS[variant], *args.overrides]
                        synth = LEAPSSynthesizer({"content": stimulus}, LEAPSSynthesizer.resolve("fast", overrides=overrides), seed=seed)
                        store = synth.synthesize(folder / "stores" / f"{direction}-{index}-{seed}-{variant}.zarr", overwrite=True, progress=False)
                        for row in evaluate(store, [Judge("toy-judge", str(judge))]):
                            rows.append(
                                {
                                    "coherence": variant,
                                    "direction": direction,
                                    "stimulus": index,
                                    "seed": seed,
                                    "judge_top1": row["toy-judge:top1"],
                                    "flow_direction": row["flow_direction"],
                                    "frame_change": row["frame_change"],
                                    "warp_error": row["warp_error"],
                                    "stimulus_frame_change": float((stimulus.frames[:, 1:] - stimulus.frames[:, :-1]).abs().mean()),
                                    "stimulus_warp_error": warp_error(stimulus),
                                }
                            )
        summary = []
        for variant in args.variants:
            for direction in DIRECTIONS:
                group = [r for r in rows if r["coherence"] == variant and r["direction"] == direction]
                summary.append(
                    {
                        "coherence": variant,
                        "direction": direction,
                        "samples": len(group),
                        "judge_top1": sum(r["judge_top1"] for r in group) / len(group),
                        "flow_towards_target": sum(r["flow_direction"] == direction for r in group) / len(group),
                        "frame_change": sum(r["frame_change"] for r in group) / len(group),
                        "stimulus_frame_change": sum(r["stimulus_frame_change"] for r in group) / len(group),
                        "warp_error": sum(r["warp_error"] for r in group) / len(group),
                        "stimulus_warp_error": sum(r["stimulus_warp_error"] for r in group) / len(group),
                    }
                )
    table = [
        [
            s["coherence"],
            s["direction"],
            s["samples"],
            f"{s['judge_top1']:.0%}",
            f"{s['flow_towards_target']:.0%}",
            f"{s['frame_change']:.4f}",
            f"{s['stimulus_frame_change']:.4f}",
            f"{s['warp_error']:.4f}",
            f"{s['stimulus_warp_error']:.4f}",
        ]
        for s in summary
    ]
    print(
        format_table(["coherence", "direction", "samples", "judge top-1", "flow that way", "frame change", "stimuli's", "flicker", "stimuli's"], table),
        file=sys.stderr,
    )
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "threads": torch.get_num_threads(), "torch": torch.__version__},
        "seconds": round(time.perf_counter() - began, 1),
        "classifiers": accuracy,
        "summary": summary,
        "rows": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
