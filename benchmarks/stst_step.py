"""Cost of one STST optimiser step against the pure cost of the two backbones, in one run.

The reference setting of the STST paper: 144×256 frames, VGG-19 relu1_1…relu5_1
(random weights: the cost does not depend on them) as the spatial stream, the
MSOE ``concat`` layer with the reference weights as the temporal stream, one
octave. Prints JSON:

- ``step_seconds``: wall time per optimiser step of the synthesizer's own loop
  (loss terms, Gram matrices, backward, normalised-gradient update, history),
  averaged over a whole transition so that its fixed costs are included;
- ``backbones_seconds``: a forward and backward pass through the same two
  backbones on the same input, and nothing else;
- ``overhead_ratio`` = step / backbones (target ≤ 1.15);
- ``vs_reference`` = step / 0.43 s, the reference implementation's step time on
  this kind of 2-core CPU (target ≤ 0.5);
- ``steps_per_second`` and ``peak_rss_mib`` (resident memory of the process).

Usage: ``python benchmarks/stst_step.py [--height 144 --width 256 --steps 30 --device cpu]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch

from stst_core import Video
from stst_styletransfer.synthesizer import STSTSynthesizer

REFERENCE_STEP_SECONDS = 0.43
DATA = Path(os.environ.get("STST_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--msoe-weights", default=str(DATA / "msoe" / "weights.npz"))
    args = parser.parse_args()
    device = torch.device(args.device)

    target = Video(torch.rand(3, 3, args.height, args.width, generator=torch.Generator().manual_seed(0)), fps=25, source="random")
    config = STSTSynthesizer.resolve(
        "paper",
        overrides=[
            "spatial.weights=random",
            f"temporal.weights={args.msoe_weights}",
            f"octaves=[{{scale=0, steps={args.steps}, lr=0.005}}]",
            "burn_in=1",
            "color_transfer=none",
        ],
    )
    synth = STSTSynthesizer({"content": target}, config, seed=0, device=device)
    streams = synth.networks()
    previous = torch.rand(3, args.height, args.width, device=device)
    current = torch.rand(3, args.height, args.width, device=device)

    class Silent:  # the progress display is not part of the measured work
        def step(self, cost, loss=None):
            pass

        def wants_loss(self):
            return False

    def transition():
        synth.optimize_transition(1, previous, current.clone(), [0.0], Silent())

    def backbones():
        frame = current.clone().requires_grad_(True)
        spatial = streams["spatial"]["net"](frame[None, :, None], streams["spatial"]["style_layers"])
        temporal = streams["temporal"]["net"](torch.stack([previous, frame], 1)[None], streams["temporal"]["style_layers"])
        total = sum(out.sum() for out in [*spatial.values(), *temporal.values()])
        total.backward()

    def timed(function, repeats):
        function()  # warm-up: allocations, kernel selection
        synchronize(device)
        begin = time.perf_counter()
        for _ in range(repeats):
            function()
        synchronize(device)
        return (time.perf_counter() - begin) / repeats

    # interleave the two measurements so that both see the same machine state
    step_times, backbone_times = [], []
    for _ in range(3):
        step_times.append(timed(transition, 1) / args.steps)
        backbone_times.append(timed(backbones, 5))
    step, pure = min(step_times), min(backbone_times)
    result = {
        "setting": f"{args.height}x{args.width}, VGG-19 relu1_1..relu5_1 (random) + MSOE concat (reference weights), one octave",
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "step_seconds": round(step, 4),
        "backbones_seconds": round(pure, 4),
        "overhead_ratio": round(step / pure, 3),
        "vs_reference": round(step / REFERENCE_STEP_SECONDS, 3),
        "steps_per_second": round(1 / step, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": {"overhead_ratio": 1.15, "vs_reference": 0.5},
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
