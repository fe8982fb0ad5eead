"""What each switch of the reference mode changes, measured on real clips (docs/reproducing.md).

For STST, on frames of ``videos/animal.mp4`` at 200×112 (the reference's
example) and the paper's octaves (1.5⁻², 1.5⁻¹, 1):

- ``octave_targets``: the last octave's target frame when each octave is
  resized from the previous one's copy without antialiasing (the
  reference), against the frame itself (the default): PSNR and the share of
  the frame's gradient energy it keeps; and the relative change of its MSOE
  Gram matrix (trained weights) as a temporal target;
- ``antialias``: the first octave's targets with and without antialiasing;
- ``burn_in_padding``: the first kept frame's motion target, the pair
  (t_5, t_0) of the reference's forward copy against the pair (t_1, t_0) of
  the true mirror: relative MSOE Gram difference, beside that of two
  neighbouring true pairs for scale.

For two-stream, on ``dyntex/flag.avi`` (12 frames, central square at 256×256
for the up-sampling, 64×64 for the runs):

- ``msoe_upsampling``: TF1's legacy up-sampling against half-pixel centres,
  relative change of the ``concat`` Gram matrix;
- ``lbfgs``: the paper preset's optimisation (uniform start, bounded,
  N iterations) against the reference's (the ImageNet mean colour start,
  unbounded, N evaluations, SciPy's tolerances, clipped), with the offline
  preset's streams (no download): iterations and evaluations used, final
  loss, and the share of pixels that had to be clipped.

Prints a table on stderr and JSON on stdout. About 3 minutes on 2 CPU cores.

Usage: ``python benchmarks/reference_mode.py [--evaluations 150] [--out reference.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from stst_core import create_backbone, read_video

DATA = Path(os.environ.get("STST_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def gram(activation: torch.Tensor) -> torch.Tensor:
    """``(1, C, T, H, W)`` → ``(C, C)``: F Fᵀ / N over every position of every time step."""
    features = activation[0].flatten(1)
    return features @ features.T / features.shape[1]


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def gradient_energy(frame: torch.Tensor) -> float:
    return float((frame[:, 1:] - frame[:, :-1]).square().sum() + (frame[:, :, 1:] - frame[:, :, :-1]).square().sum())


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).square().mean()))


def stst_switches(msoe) -> dict:
    from stst_styletransfer.synthesizer import STSTSynthesizer

    clip = read_video(DATA / "videos" / "animal.mp4", num_frames=6, size=200)
    make = lambda overrides: STSTSynthesizer({"content": clip}, STSTSynthesizer.resolve("paper", overrides=["spatial.weights=random", *overrides]))  # noqa: E731
    default, reference = make([]), make(["octave_resize=chained", "antialias=false", "burn_in_padding=reference"])
    sizes = [default.octave_size(octave) for octave in default.config.octaves]
    frames = default.frames["content"]
    pair = frames[[0, 1]]
    chained, direct = reference.resized(pair, sizes), default.resized(pair, sizes)
    last_gram = {name: gram(msoe(pairs[-1].transpose(0, 1)[None], ["concat"])["concat"]) for name, pairs in (("chained", chained), ("direct", direct))}
    first_plain = make(["antialias=false"]).resized(pair, sizes)[0]
    temporal = {k: gram(msoe(frames[list(k)].transpose(0, 1)[None], ["concat"])["concat"]) for k in ((5, 0), (1, 0), (2, 1))}
    return {
        "frame_size": list(clip.frames.shape[-2:]),
        "octave_sizes": [list(size) for size in sizes],
        "octave_targets": {
            "psnr_db": psnr(chained[-1][1], pair[1]),
            "gradient_energy_kept": gradient_energy(chained[-1][1]) / gradient_energy(pair[1]),
            "msoe_gram_change": relative(last_gram["chained"], last_gram["direct"]),
        },
        "antialias": {"first_octave_psnr_db": psnr(first_plain, direct[0])},
        "burn_in_padding": {
            "msoe_gram_change_first_target": relative(temporal[(5, 0)], temporal[(1, 0)]),
            "msoe_gram_change_neighbouring_pairs": relative(temporal[(2, 1)], temporal[(1, 0)]),
        },
        "sequences": {"default": default.sequence[:7], "reference": reference.sequence[:7]},
    }


def msoe_upsampling(weights: Path) -> dict:
    clip = read_video(DATA / "dyntex" / "flag.avi", num_frames=12, crop="square", size=256)
    half = create_backbone("msoe", weights=str(weights), grey="luma")
    legacy = create_backbone("msoe", weights=str(weights), grey="luma", upsampling="tf1_legacy")
    with torch.no_grad():
        changes = [
            relative(gram(legacy(clip.frames[None, :, t : t + 2], ["concat"])["concat"]), gram(half(clip.frames[None, :, t : t + 2], ["concat"])["concat"]))
            for t in range(11)
        ]
    return {"size": 256, "pairs": 11, "concat_gram_change_mean": float(np.mean(changes)), "concat_gram_change_range": [min(changes), max(changes)]}


def lbfgs_runs(budget: int, folder: Path) -> dict:
    from stst_twostream.synthesizer import TwoStreamSynthesizer

    clip = read_video(DATA / "dyntex" / "flag.avi", num_frames=6, crop="square", size=64)
    runs = {}
    for name, overrides in (
        ("paper", [f"steps={budget}"]),
        ("reference", [f"steps={budget}", "budget=evaluations", "bounds=false", "init=reference", "dynamics.options={grey='luma', upsampling='tf1_legacy'}"]),
    ):
        began = time.perf_counter()
        synth = TwoStreamSynthesizer({"content": clip}, TwoStreamSynthesizer.resolve("offline", overrides=[*overrides, f"checkpoint_every={budget}"]))
        store = synth.synthesize(folder / f"{name}.zarr", progress=False, overwrite=True)
        ds = xr.open_zarr(folder / f"{name}.zarr")
        unclipped = synth.stepper.x
        weights = synth.weights.cpu().numpy()
        evaluations = ds.evaluations.values
        runs[name] = {
            "iterations": int((np.diff(np.concatenate([[1], evaluations])) > 0).sum()),
            "evaluations": int(evaluations[-1]),
            "stopped": synth.stepper.stopped or "steps",
            "final_loss": float((ds.loss.values[-1] * weights).sum()),
            "clipped_share": float(((unclipped < 0) | (unclipped > 1)).float().mean()),
            "result_loss": float((np.nanmean(store.evaluation().sel(evaluated="result").values, axis=0) * weights).sum()),
            "seconds": round(time.perf_counter() - began, 1),
        }
    return {"size": 64, "frames": 6, "budget": budget, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=150, help="the budget of the two-stream runs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import tempfile

    began = time.perf_counter()
    weights = DATA / "msoe" / "weights.npz"
    msoe = create_backbone("msoe", weights=str(weights))
    with torch.no_grad():
        stst = stst_switches(msoe)
    upsampling = msoe_upsampling(weights)
    with tempfile.TemporaryDirectory() as folder:
        lbfgs = lbfgs_runs(args.evaluations, Path(folder))
    result = {
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(), "torch": torch.__version__},
        "seconds": round(time.perf_counter() - began, 1),
        "stst": stst,
        "msoe_upsampling": upsampling,
        "lbfgs": lbfgs,
    }
    o, b = stst["octave_targets"], stst["burn_in_padding"]
    print(
        f"octave targets chained: PSNR {o['psnr_db']:.1f} dB, gradient energy kept {o['gradient_energy_kept']:.2f}, MSOE Gram change {o['msoe_gram_change']:.3f}\n"
        f"antialias off, first octave: PSNR {stst['antialias']['first_octave_psnr_db']:.1f} dB against antialiased\n"
        f"burn-in padding: first target's MSOE Gram change {b['msoe_gram_change_first_target']:.3f} (neighbouring pairs {b['msoe_gram_change_neighbouring_pairs']:.3f})\n"
        f"MSOE TF1 legacy up-sampling: concat Gram change {upsampling['concat_gram_change_mean']:.3f} "
        f"({upsampling['concat_gram_change_range'][0]:.3f}-{upsampling['concat_gram_change_range'][1]:.3f})\n"
        + "\n".join(f"two-stream {name}: {run}" for name, run in lbfgs["runs"].items()),
        file=sys.stderr,
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
