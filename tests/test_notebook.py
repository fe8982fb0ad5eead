"""What a notebook sees: a short repr and an inline animation of a Video, figures returned by the plot helpers, the backend left alone."""

import base64
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from stst_core import StimulusStore, Video, contact_sheet, loss_curves, plot_comparison
from stst_core._video import _PREVIEW_BYTES, _PREVIEW_SIDE

FORMAT1 = Path(__file__).parent / "data" / "format1"


def drifting(num_frames=6, height=24, width=32, fps=25.0) -> Video:
    """Distinct frames (a drifting colour grating), so that no two frames of an animation merge."""
    t, y, x = torch.meshgrid(torch.arange(num_frames), torch.arange(height), torch.arange(width), indexing="ij")
    phase = 2 * torch.pi * (x + 2 * t) / width
    frames = torch.stack([0.5 + 0.4 * torch.sin(phase), 0.5 + 0.4 * torch.cos(phase + y / 5), (t / num_frames).expand_as(phase).float()])
    return Video(frames.float().contiguous(), fps=fps, source="drifting")


def animation_of(html: str) -> Image.Image:
    data = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert data, html[:200]
    return Image.open(io.BytesIO(base64.b64decode(data[1])))


# Video ----------------------------------------------------------------------------


def test_repr_is_one_short_line():
    video = Video(torch.full((3, 120, 256, 320), 0.25), fps=29.97, source="clips/walk.mp4")
    video.frames[0, 0, 0, 0] = 1.0
    text = repr(video)
    assert text == "Video(3x120x256x320 CxTxHxW, 29.97 fps, 4 s, float32 on cpu, values in [0.25, 1], source='clips/walk.mp4')"
    assert "tensor" not in text and "\n" not in text


def test_html_is_an_animation_of_every_frame_at_the_video_rate():
    video = drifting(fps=30)

    html = video._repr_html_()

    animation = animation_of(html)
    assert animation.format == "PNG" and animation.n_frames == video.num_frames and animation.info["loop"] == 0
    durations = []
    for index, pixels in enumerate(video.to_uint8()):
        animation.seek(index)
        np.testing.assert_array_equal(np.asarray(animation.convert("RGB")), pixels)  # lossless
        durations.append(animation.info["duration"])
    assert durations == [33, 34, 33, 33, 34, 33]  # whole milliseconds that add up to 6 / 30 s
    assert 'width="192"' in html and "image-rendering: pixelated" in html  # small videos are enlarged, not blurred
    assert "Video(3x6x24x32 CxTxHxW, 30 fps" in html


def test_html_of_a_large_video_is_capped():
    video = Video(torch.rand(3, 60, 300, 400, generator=torch.Generator().manual_seed(0)), fps=60)

    html = video._repr_html_()

    animation = animation_of(html)
    assert max(animation.size) == _PREVIEW_SIDE and animation.size == (256, 192)
    shown = animation.n_frames
    stride = 60 // shown
    frame_bytes = 256 * 192 * 3
    assert shown * frame_bytes <= _PREVIEW_BYTES < -(-60 // (stride - 1)) * frame_bytes  # the smallest stride that fits
    assert f"1 frame in {stride} shown ({shown} of 60), at the real speed" in html and "shown at 192x256 pixels" in html
    assert animation.info["duration"] == pytest.approx(1000 * stride / 60, abs=1)
    assert len(html) < 1.4 * _PREVIEW_BYTES  # noise barely compresses: base64 of about the cap


def test_grey_video_html():
    grey = Video(drifting().frames[:1].contiguous(), fps=25)
    assert animation_of(grey._repr_html_()).mode == "L"


# Figures --------------------------------------------------------------------------


def _comparison_table() -> pd.DataFrame:
    rows = [("vgg19", 0, 0.0, 0.9), ("vgg19", 1, 1.0, 0.4), ("msoe", 0, 0.0, 0.8), ("msoe", 1, 1.0, 0.7)]
    return pd.DataFrame(
        [
            {"backbone": b, "layer_index": i, "depth": d, "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1, "metric": "cka", "level": 0.95}
            | {"between": "condition=natural", "and": "condition=stst"}
            for b, i, d, v in rows
        ]
    )


def _evaluation_report() -> dict:
    return {name: {"prediction_mse": 0.01, "copy_last_frame_mse": 0.02, "ratio": 0.5, "ratio_sem": 0.05, "videos": 2} for name in ("natural", "metamer")}


def _plots():
    """Each plot helper, called with an optional path."""
    from stst_metrics.report import report_card
    from stst_prednet import plot_evaluation

    video, other = drifting(), drifting(fps=25)
    return {
        "contact_sheet": lambda path=None: contact_sheet([("target", video), ("metamer", other)], path, columns=4),
        "loss_curves": lambda path=None: loss_curves(StimulusStore(FORMAT1 / "stst-v1.zarr"), path),
        "plot_comparison": lambda path=None: plot_comparison(_comparison_table(), path),
        "report_card": lambda path=None: report_card(video, [("metamer", other)], path),
        "plot_evaluation": lambda path=None: plot_evaluation(_evaluation_report(), path),
    }


@pytest.mark.parametrize("name", ["contact_sheet", "loss_curves", "plot_comparison", "report_card", "plot_evaluation"])
def test_plot_helpers_return_figures_and_write_only_when_given_a_path(name, tmp_path, monkeypatch):
    from matplotlib._pylab_helpers import Gcf

    monkeypatch.chdir(tmp_path)
    plot = _plots()[name]

    figure = plot()

    assert isinstance(figure, Figure) and figure.axes
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert Gcf.get_num_fig_managers() == 0  # and nothing left open in pyplot

    written = plot(tmp_path / f"{name}.png")

    assert written == tmp_path / f"{name}.png"
    with Image.open(written) as image:
        assert image.format == "PNG" and np.asarray(image.convert("L")).std() > 5  # a drawing, not a blank
        width, height = figure.get_size_inches() * figure.dpi
        assert image.size[0] > 0.5 * width and image.size[1] > 0.5 * height


def test_plot_modules_leave_the_matplotlib_backend_alone(tmp_path):
    # a fresh process: importing is what used to switch the backend to Agg for the whole process
    script = textwrap.dedent(
        """
        import sys
        import matplotlib
        matplotlib.use("svg")  # the user's choice: a notebook's inline backend, say
        import stst_core._report, stst_core._comparison, stst_metrics.report, stst_prednet.training
        from stst_core import Video, contact_sheet
        import torch
        contact_sheet([("noise", Video(torch.rand(3, 2, 8, 8), fps=25))])
        print("pyplot imported:", "matplotlib.pyplot" in sys.modules)
        print("backend:", matplotlib.get_backend())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pyplot imported: False" in result.stdout and "backend: svg" in result.stdout


def test_the_comparison_title_says_whether_an_interval_is_shaded():
    with_interval = plot_comparison(_comparison_table())
    assert "95% bootstrap interval" in with_interval.axes[0].get_title()
    one_pair = _comparison_table().assign(ci_low=float("nan"), ci_high=float("nan"))
    assert "no bootstrap interval" in plot_comparison(one_pair).axes[0].get_title()
