"""STGConvNet recovery of occluded video against two baselines: the paper's Table 1 on the fountain clip.

Xie, Zhu & Wu (CVPR 2017, section 5.3, Table 1) occlude the first 70 frames
of ``fountain.avi`` at 150x150 in three ways and report the mean absolute
error (0-255 scale) over the occluded entries of the recovered video. Here
the three masks are (a) 50 % salt-and-pepper pixels, generated from seed 0,
(b) a single region per frame and (c) 50 % missing frames, the last two the
reference's own mask files (``recovery/fountain_region_mask.mat`` and
``recovery/fountain_missing_frame_mask.mat`` of the data folder). Each mask
is recovered by temporal interpolation, by OpenCV's Telea inpainting frame
by frame (not applicable where whole frames are missing: it would only
repeat the interpolation) and by STGConvNet (the ``recovery`` preset), every
method timed. Prints one JSON object with the errors beside the paper's
(STGConvNet and the MRF-l1 and MRF-l2 baselines, in the order
salt-and-pepper, region, missing frames) and a table on stderr.

Usage::

    python benchmarks/stgconvnet_recovery.py --quick --out recovery.json
    python benchmarks/stgconvnet_recovery.py --skip-stgconvnet   # the baselines at 150x150, in seconds

``--quick`` is a CPU-sized setting (24 frames at 64x64, 15 iterations),
under 15 minutes on 2 cores; without it the paper's size is used with the
preset's iterations. The data folder is ``--data`` (default
``STST_TEST_DATA``, else ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from stst_core import Video, format_table, read_video

DATA = Path(os.environ.get("STST_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MASKS = ("salt-and-pepper", "region", "missing-frames")  # the paper's order
MASK_FILES = {"region": "recovery/fountain_region_mask.mat", "missing-frames": "recovery/fountain_missing_frame_mask.mat"}
METHODS = ("temporal-interpolation", "telea", "stgconvnet")
# Table 1 of the paper, in the order of MASKS
PAPER = {"stgconvnet": [5.30, 6.35, 6.73], "mrf_l1": [10.11, 12.29, 15.01], "mrf_l2": [12.83, 13.18, 13.77]}
FULL = {"frames": 70, "crop": 150, "iterations": None}
QUICK = {"frames": 24, "crop": 64, "iterations": 15}


def read_clip(path: Path, frames: int, crop: int) -> tuple[Video, int]:
    """The first ``frames`` frames, scaled so that the shorter side is ``crop`` and centre-cropped to ``crop`` x ``crop``."""
    first = read_video(path, num_frames=1)
    # the longer side that makes the shorter one ``crop`` (352x288 → 183 for 150, as the paper's 150x150 needs)
    size = round(crop * max(first.height, first.width) / min(first.height, first.width))
    clip = read_video(path, num_frames=frames, size=size, crop=(crop, crop))
    if clip.shape != (3, frames, crop, crop):
        raise SystemExit(f"{path}: read as {clip.shape}, not (3, {frames}, {crop}, {crop}); is the clip shorter than {frames} frames?")
    return clip, size


def make_masks(data: Path, shape: tuple[int, int, int]) -> dict[str, tuple[torch.Tensor, str]]:
    """Each mask type's mask for ``shape`` (T, H, W), with where it came from."""
    from stst_stgconvnet.masks import generate_mask, read_mask

    masks = {"salt-and-pepper": (generate_mask("salt-and-pepper", shape, ratio=0.5, seed=0), "generated, ratio 0.5, seed 0")}
    for kind, name in MASK_FILES.items():
        path = data / name
        if not path.is_file():
            raise SystemExit(f"{path}: no such mask file (the reference's; --data names the folder holding recovery/)")
        masks[kind] = (read_mask(path, shape), name)  # its first T frames; resized (nearest) to a smaller frame
    return {kind: masks[kind] for kind in MASKS}


def run_stgconvnet(clip: Video, mask: torch.Tensor, kind: str, overrides: tuple[str, ...], device: str, quiet: bool, folder: Path) -> torch.Tensor:
    from stst_stgconvnet import STGConvNetSynthesizer
    from stst_stgconvnet.masks import mask_video

    cls = STGConvNetSynthesizer
    config = cls.resolve("recovery", None, overrides)
    # the full clip is the content: the synthesizer itself looks only at its visible pixels
    synth = cls({"content": clip, "mask": mask_video(mask, clip.fps), "truth": clip}, config, seed=0, device=device)
    store = synth.synthesize(folder / f"{kind}.zarr", progress=not quiet)
    return store.video().frames.cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK['frames']} frames at {QUICK['crop']}x{QUICK['crop']}, {QUICK['iterations']} iterations")
    parser.add_argument("--iterations", type=int, help="STGConvNet learning iterations (default: the preset's, or the quick setting's)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the data folder holding recovery/ (default {DATA})")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-stgconvnet", action="store_true", help="only the baselines")
    parser.add_argument("--keep", type=Path, help="keep the STGConvNet stores in this folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()

    from stst_stgconvnet.recovery import recovery_error, telea_inpaint, temporal_interpolation

    setting = dict(QUICK if args.quick else FULL)
    if args.iterations is not None:
        setting["iterations"] = args.iterations
    video_path = args.data / "recovery" / "fountain.avi"
    if not video_path.is_file():
        raise SystemExit(f"{video_path}: no such video (--data names the folder holding recovery/fountain.avi)")
    clip, size = read_clip(video_path, setting["frames"], setting["crop"])
    masks = make_masks(args.data, tuple(clip.frames.shape[1:]))
    overrides = () if setting["iterations"] is None else (f"iterations={setting['iterations']}",)
    if not args.skip_stgconvnet:
        from stst_stgconvnet import STGConvNetSynthesizer

        setting["iterations"] = STGConvNetSynthesizer.resolve("recovery", None, overrides).iterations  # the preset's, where not given

    rows = []
    with tempfile.TemporaryDirectory(prefix="stgconvnet-recovery-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for kind, (mask, _) in masks.items():
            # Telea works within a frame: a frame with no visible pixel leaves it nothing, and it would only repeat the interpolation
            telea_applies = not bool(mask.flatten(1).all(dim=1).any())
            methods = {
                "temporal-interpolation": lambda mask=mask: temporal_interpolation(clip.frames, mask),
                "telea": (lambda mask=mask: telea_inpaint(clip.frames, mask)) if telea_applies else None,
                "stgconvnet": None
                if args.skip_stgconvnet
                else lambda mask=mask, kind=kind: run_stgconvnet(clip, mask, kind, overrides, args.device, args.quiet, folder),
            }
            for method, recover in methods.items():
                if recover is None:
                    why = "skipped (--skip-stgconvnet)" if method == "stgconvnet" else "not applicable: whole frames are occluded"
                    rows.append({"mask": kind, "method": method, "error": None, "seconds": None, "note": why})
                    continue
                began = time.perf_counter()
                recovered = recover()
                seconds = time.perf_counter() - began
                error = recovery_error(recovered, clip.frames, mask)
                rows.append({"mask": kind, "method": method, "error": round(error, 2), "seconds": round(seconds, 2)})
                print(f"{kind:16s} {method:23s} error {error:6.2f}  {seconds:8.2f} s", file=sys.stderr, flush=True)

    result = {
        "setting": {
            "video": str(video_path),
            "frames": setting["frames"],
            "size": size,
            "crop": [setting["crop"], setting["crop"]],
            "shape": list(clip.shape),
            "iterations": setting["iterations"],
            "preset": "recovery",
            "quick": args.quick,
            "device": args.device,
            "masks": {kind: {"source": source, "occluded": round(float(mask.float().mean()), 4)} for kind, (mask, source) in masks.items()},
            "machine": machine(args.device),
        },
        "rows": rows,
        "paper": PAPER,
        "paper_order": list(MASKS),
        "stgconvnet_best_everywhere": best_everywhere(rows),
    }
    text = json.dumps(result)
    print(text, flush=True)
    if args.out:
        args.out.write_text(text + "\n")
    table = [[row["mask"], row["method"], "n/a" if row["error"] is None else f"{row['error']:.2f}", row["seconds"], row.get("note")] for row in rows]
    table += [[kind, f"paper: {name}", f"{values[i]:.2f}", None, None] for name, values in PAPER.items() for i, kind in enumerate(MASKS)]
    print("\n" + format_table(["mask", "method", "error (0-255)", "seconds", "note"], table), file=sys.stderr)


def best_everywhere(rows: list[dict]) -> bool | None:
    """Whether STGConvNet has the lowest error on every mask (None where it did not run)."""
    errors = {(row["mask"], row["method"]): row["error"] for row in rows if row["error"] is not None}
    if not any(method == "stgconvnet" for _, method in errors):
        return None
    return all(
        (kind, "stgconvnet") in errors and all(errors[kind, "stgconvnet"] < e for (k, m), e in errors.items() if k == kind and m != "stgconvnet")
        for kind in MASKS
    )


def machine(device: str) -> dict:
    info = {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


if __name__ == "__main__":
    main()
