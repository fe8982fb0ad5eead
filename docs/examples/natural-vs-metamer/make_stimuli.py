"""Make the stimuli of the natural-vs-metamer experiment, and its conditions file.

For each natural clip, spatiotemporal style transfer (STST) makes a metamer:
a video whose statistics in the model's layers match the clip's. The
experiment shows both and asks which one is natural.

    python make_stimuli.py                    # 4 clips of the demo street scene, offline preset
    python make_stimuli.py --video a.mp4 --video b.mp4 --frames 12 --size 160
    python make_stimuli.py --fast             # tiny and quick: checks the pipeline, not real metamers

Writes, next to this script:

- ``stimuli/clipNN_metamer.zarr``: the stimulus store of each metamer (the
  experiment plays it as it is);
- ``stimuli/clipNN_natural.npz``: the clip exactly as the method saw it (the
  store's ``target``: same frames, size and crop, lossless), so that the two
  intervals differ only in what the metamer changed;
- ``conditions.csv``: one row per clip and order (natural first or second).

Runs already done are resumed, not redone (delete ``stimuli/`` to start over).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAST = [  # two optimiser steps, one filter level, no colour transfer: checks the pipeline only
    "octaves=[{scale=0, steps=2, lr=0.01}]",
    "burn_in=1",
    "spatial.options={levels=1}",
    "spatial.style_layers=['level0']",
    "color_transfer=none",
]


def natural_clips(videos, clips: int, frames: int, size: int):
    """The natural clips: one per --video file, or segments of the demo's street scene."""
    from stst_core import read_video

    if videos:
        return [(Path(v).stem, read_video(v, num_frames=frames, size=size)) for v in videos]
    from stst_styletransfer.demo import DEMO_CROP, DEMO_START, demo_clip

    source = demo_clip()
    last = 250 - frames  # bikes.mp4 has 250 frames; from DEMO_START on, one continuous shot
    step = max(frames, (last - DEMO_START) // max(1, clips))
    starts = [DEMO_START + i * step for i in range(clips)]
    if starts[-1] > last:
        raise SystemExit(f"the demo clip holds at most {(last - DEMO_START) // frames + 1} clips of {frames} frames")
    return [
        (
            f"street {start}",
            read_video(source, start=start, num_frames=frames).center_cropped(DEMO_CROP).resized(size),
        )
        for start in starts
    ]


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--video",
        action="append",
        default=[],
        help="a natural clip (repeat for more); default: the demo's street scene",
    )
    parser.add_argument(
        "--clips",
        type=int,
        default=4,
        help="clips cut from the demo video (ignored with --video)",
    )
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--size", type=int, default=128, help="longer side in pixels")
    parser.add_argument("--preset", default="offline", help="STST preset (offline needs no downloads)")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="tiny settings: checks the pipeline in seconds",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="folder for stimuli/ and conditions.csv")
    args = parser.parse_args(argv)

    from stst_core import write_video
    from stst_styletransfer import STSTSynthesizer

    if args.fast:
        args.frames, args.size = min(args.frames, 3), min(args.size, 32)
    config = STSTSynthesizer.resolve(args.preset, None, FAST if args.fast else [])
    stimuli = args.out / "stimuli"
    stimuli.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (label, clip) in enumerate(natural_clips(args.video, args.clips, args.frames, args.size), start=1):
        name = f"clip{index:02d}"
        print(
            f"{name}: {label}, {clip.num_frames} frames of {clip.height}x{clip.width} px at {clip.fps:g} fps",
            file=sys.stderr,
        )
        store = STSTSynthesizer({"content": clip}, config, seed=index).synthesize(stimuli / f"{name}_metamer.zarr", progress=not args.fast)
        write_video(store.target(), stimuli / f"{name}_natural.npz")
        natural, metamer = f"stimuli/{name}_natural.npz", f"stimuli/{name}_metamer.zarr"
        rows.append(
            {
                "clip": name,
                "stimulus1": natural,
                "stimulus2": metamer,
                "natural_interval": 1,
                "corrAns": "1",
            }
        )
        rows.append(
            {
                "clip": name,
                "stimulus1": metamer,
                "stimulus2": natural,
                "natural_interval": 2,
                "corrAns": "2",
            }
        )
    conditions = args.out / "conditions.csv"
    with conditions.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        f"wrote {len(rows) // 2} natural clips and their metamers to {stimuli}, and {conditions}",
        file=sys.stderr,
    )
    return conditions


if __name__ == "__main__":
    main()
