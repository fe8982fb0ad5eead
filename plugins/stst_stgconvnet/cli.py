"""``stst recover``: ``stst synth stgconvnet`` for a video with occluded pixels, with the mask options and the recovery error."""

from __future__ import annotations

import click

from stst_core import StimulusStore, is_store
from stst_core.cli import synth_command

from .masks import MASK_TYPES


def recover_command() -> click.Command:
    """The command, built on the synth command's options (so they mean what they mean there)."""
    synth = synth_command("stgconvnet")

    def recover(mask_type, mask_ratio, mask_seed, **values):
        """Recover the occluded pixels of INPUT (or inpaint a background) with a model learned from its visible pixels."""
        if values["mask"] is None and mask_type is None:
            raise click.UsageError("say what is occluded: --mask FILE (a .mat, .npy, .npz or a folder of images) or --mask-type TYPE")
        if mask_type is not None:  # a generated mask is part of the configuration: recorded, and checked at resume
            values["overrides"] = (f"mask_type={mask_type}", f"mask_ratio={mask_ratio}", f"mask_seed={mask_seed}", *values["overrides"])
        values["preset"] = values["preset"] or "recovery"
        click.get_current_context().invoke(synth, **values)
        output = values["output"]
        if output is not None and not values["show_config"] and is_store(output):
            loss = StimulusStore(output).loss_history()
            if "recovery_error" in loss.coords["term"].values:
                error = float(loss.sel(term="recovery_error").values[-1])
                click.echo(f"recovery error {error:.2f}: mean |recovered - truth| over the occluded pixels' values, on the 0-255 scale")

    params = [
        click.Option(["--mask-type"], type=click.Choice(MASK_TYPES), help="Occlude INPUT with a generated mask of this kind (INPUT is then the truth)."),
        click.Option(
            ["--mask-ratio"],
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.5,
            show_default=True,
            help="What a generated mask occludes: the share of each frame's pixels, of each frame's area (one square), or of the frames.",
        ),
        click.Option(["--mask-seed"], type=int, default=0, show_default=True, help="Seed of a generated mask."),
    ]
    for param in synth.params:
        if param.name == "preset":
            param = click.Option(["--preset"], help="A preset name, or a TOML file (default: recovery).")
        params.append(param)
    return click.Command("recover", callback=recover, params=params, help=recover.__doc__)
