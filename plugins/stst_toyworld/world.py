"""The toy world: clips of random textures drifting in one of four directions, labelled, with a known truth.

Each clip is a periodic, band-limited colour texture translated by a whole
number of pixels per frame (``speeds``) towards its label's direction, with
a little independent pixel noise per frame. Nothing but the direction tells
the classes apart, so a classifier that learns them has learned motion, and
a video that one of them calls "right" can be checked with a weight-free
measure of its flow.

On disk (:func:`make_world`): ``DIR/<split>/<label>/<index>.mkv`` (lossless
H.264) and ``DIR/labels.csv`` with ``path,label,index,speed,split``; the
splits are ``train`` and ``heldout``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from stst_core import ConfigError, Video, read_video, write_video

DIRECTIONS = ("right", "left", "down", "up")  # the classes, in the classifiers' order
VELOCITY = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (dy, dx) per frame at speed 1
SPLITS = ("train", "heldout")
FPS = 12.0


@dataclass(frozen=True)
class WorldSpec:
    """How the clips are made: their size and the range of their textures and speeds."""

    frames: int = 8
    size: int = 32
    speeds: tuple[int, ...] = (1, 2)  # pixels per frame
    noise: float = 0.02  # standard deviation of the per-frame pixel noise
    cutoff: tuple[float, float] = (0.08, 0.25)  # the texture's spatial frequency cut-off, cycles per pixel (drawn per clip)

    def __post_init__(self):
        if self.frames < 2 or self.size < 8:
            raise ConfigError(f"toy clips need at least 2 frames of 8x8 pixels, got {self.frames} of {self.size}x{self.size}")
        if not self.speeds or min(self.speeds) < 1:
            raise ConfigError(f"speeds must be whole pixels per frame, at least 1, got {self.speeds}")


def texture(size: int, cutoff: float, generator: torch.Generator) -> torch.Tensor:
    """A periodic colour texture ``(3, size, size)`` in [0, 1]: white noise low-passed (Gaussian, σ = ``cutoff`` cycles/pixel) and contrast-normalised."""
    noise = torch.randn(3, size, size, generator=generator)
    fy, fx = torch.fft.fftfreq(size)[:, None], torch.fft.fftfreq(size)[None, :]
    gain = torch.exp(-(fy**2 + fx**2) / (2 * cutoff**2))
    smooth = torch.fft.ifft2(torch.fft.fft2(noise) * gain).real
    smooth = (smooth - smooth.mean()) / smooth.std()
    colour = 0.5 + 0.5 * torch.rand(3, 1, 1, generator=generator)  # a random tint per clip
    return (0.5 + 0.18 * smooth * colour).clamp(0, 1)


def make_clip(direction: str, speed: int, spec: WorldSpec, generator: torch.Generator) -> torch.Tensor:
    """One clip ``(3, T, H, W)``: a fresh texture moving ``speed`` pixels per frame towards ``direction``."""
    if direction not in VELOCITY:
        raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    low, high = spec.cutoff
    cutoff = low + (high - low) * float(torch.rand((), generator=generator))
    base = texture(spec.size, cutoff, generator)
    dy, dx = VELOCITY[direction]
    frames = [torch.roll(base, shifts=(dy * speed * t, dx * speed * t), dims=(1, 2)) for t in range(spec.frames)]
    clip = torch.stack(frames, dim=1)
    return (clip + spec.noise * torch.randn(clip.shape, generator=generator)).clamp(0, 1)


def make_world(folder: str | Path, *, clips_per_class: int = 64, heldout: float = 0.25, spec: WorldSpec = WorldSpec(), seed: int = 0) -> Path:
    """Write ``clips_per_class`` clips of each direction (a ``heldout`` share of them in the held-out split) and ``labels.csv``."""
    folder = Path(folder)
    if clips_per_class < 2:
        raise ConfigError(f"clips_per_class must be at least 2 (one to train on, one held out), got {clips_per_class}")
    if not 0 < heldout < 1:
        raise ConfigError(f"heldout must lie strictly between 0 and 1, got {heldout}")
    if (folder / "labels.csv").exists():
        raise ConfigError(f"{folder} already holds a toy world (labels.csv); choose another folder or remove it")
    generator = torch.Generator().manual_seed(seed)
    kept = max(1, math.ceil(clips_per_class * heldout))
    rows = []
    for index in range(clips_per_class):
        split = "heldout" if index >= clips_per_class - kept else "train"
        for direction in DIRECTIONS:  # interleaved, so every class sees the same stream of textures
            speed = spec.speeds[int(torch.randint(len(spec.speeds), (), generator=generator))]
            clip = make_clip(direction, speed, spec, generator)
            path = Path(split) / direction / f"{index:04d}.mkv"
            write_video(Video(clip, fps=FPS, source=f"toy world {direction} {index}"), folder / path, lossless=True)
            rows.append({"path": path.as_posix(), "label": direction, "index": index, "speed": speed, "split": split})
    temporary = folder / ".labels.csv.writing"
    with open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    temporary.replace(folder / "labels.csv")  # last: a world without its labels is not a world
    return folder


def read_world(folder: str | Path, split: str) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """The clips of one split as ``(N, 3, T, H, W)``, their labels (indices into :data:`DIRECTIONS`) and their rows."""
    folder = Path(folder)
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise ConfigError(f"{folder} is not a toy world (no labels.csv); make one with stst toyworld make -o {folder}")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    with open(labels, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == split]
    if not rows:
        raise ConfigError(f"{labels} lists no {split} clip")
    unknown = sorted({row["label"] for row in rows} - set(DIRECTIONS))
    if unknown:
        raise ConfigError(f"{labels}: unknown label(s) {', '.join(unknown)}; the toy world's are {', '.join(DIRECTIONS)}")
    clips = torch.stack([read_video(folder / row["path"]).frames for row in rows])
    targets = torch.tensor([DIRECTIONS.index(row["label"]) for row in rows])
    return clips, targets, rows
