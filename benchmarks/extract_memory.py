"""Peak memory of `stst extract` for 10 and for 100 stimuli: streaming keeps it flat.

Each count runs in a fresh process (peak resident memory is per process):
N synthetic clips (6 frames of 48×48) are written, then extracted with VGG-19
(random weights, relu1_1…relu3_1, unpooled: about 6 MB of activations per
stimulus) into a new activation store. Prints JSON with the peak resident
memory of each run, their ratio (≈ 1 when memory does not grow with the number
of stimuli) and the store sizes on disk.

Usage: ``python benchmarks/extract_memory.py [--counts 10 100] [--batch 4]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(count: int, batch: int, folder: Path) -> None:
    import torch

    from stst_core import Video, extract, load_inputs, write_video

    paths = []
    for i in range(count):
        frames = torch.rand(3, 6, 48, 48, generator=torch.Generator().manual_seed(i))
        paths.append(write_video(Video(frames, 25), folder / f"clip{i:04d}.npz"))
    began = time.perf_counter()
    store = extract(
        load_inputs(paths),
        folder / "acts.zarr",
        backbone="vgg19",
        weights="random",
        layers=["relu1_1", "relu2_1", "relu3_1"],
        batch=batch,
        progress=False,
    )
    seconds = time.perf_counter() - began
    size = sum(p.stat().st_size for p in store.path.rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "stimuli": count,
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "store_mib": round(size / 2**20, 1),
                "seconds": round(seconds, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batch, args.folder)
        return
    runs = []
    for count in args.counts:
        with tempfile.TemporaryDirectory() as folder:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(count), "--batch", str(args.batch), "--folder", folder],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps({"runs": runs, "peak_ratio_last_to_first": round(runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"], 3)}, indent=2))


if __name__ == "__main__":
    main()
