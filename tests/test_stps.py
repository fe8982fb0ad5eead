"""Spatiotemporal phase scrambling: the amplitude spectrum is kept, the phases are not, the store is complete."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
from click.testing import CliRunner

from stst_core import ConfigError, STSTError, Video, get_registry, read_video, write_video
from stst_core._store import StimulusStore
from stst_core.cli import build_cli
from stst_stps import STPSSynthesizer, amplitude_change, map_to_unit, scramble_phase


def natural_like(frames=8, size=32, seed=0) -> Video:
    """Smooth coloured noise drifting to the right: a spectrum that falls with frequency, colour correlated."""
    generator = torch.Generator().manual_seed(seed)
    grey = F.avg_pool2d(torch.rand(1, 1, size, size * 2, generator=generator), 5, 1, 2)[0]
    colour = torch.cat([grey, 0.8 * grey + 0.1, 0.5 * grey + 0.2])
    clip = torch.stack([torch.roll(colour, t, dims=2)[:, :, :size] for t in range(frames)], dim=1)
    clip = (clip - clip.min()) / (clip.max() - clip.min())
    return Video(clip.contiguous(), fps=25, source=f"natural-like {seed}")


def spectrum(frames: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftn(frames.double(), dim=(1, 2, 3))


@pytest.mark.parametrize("per_channel", [False, True])
def test_the_amplitude_spectrum_is_kept_and_the_result_is_real(per_channel):
    video = natural_like()
    raw = scramble_phase(video.frames, seed=3, per_channel=per_channel)
    assert raw.dtype == torch.float64 and not raw.is_complex() and raw.shape == video.shape
    before, after = spectrum(video.frames).abs(), spectrum(raw).abs()
    assert float((after - before).abs().max() / before.max()) < 1e-5
    significant = before > 1e-6 * before.max()
    assert float(((after - before).abs() / before)[significant].max()) < 1e-5  # every frequency, not just the large ones
    # the phases did change: the result is not the input
    correlation = np.corrcoef(raw.ravel().numpy(), video.frames.double().ravel().numpy())[0, 1]
    assert abs(correlation) < 0.5
    torch.testing.assert_close(raw.mean(dim=(1, 2, 3)), video.frames.double().mean(dim=(1, 2, 3)))  # the mean too


def test_the_phase_field_is_hermitian_so_the_scrambled_video_is_real():
    # odd and even sizes: even ones have self-conjugate planes (Nyquist), where the phase must be 0 or π
    video = Video(natural_like(frames=6, size=10).frames[:, :, :9], fps=25)
    shape = tuple(video.shape[1:])
    phase = torch.angle(torch.fft.fftn(torch.rand(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)))
    mirrored = torch.roll(phase.flip(0, 1, 2), shifts=(1, 1, 1), dims=(0, 1, 2))  # φ(−f)
    torch.testing.assert_close(torch.polar(torch.ones_like(phase), phase + mirrored), torch.ones_like(phase, dtype=torch.complex128))
    # the full complex inverse transform, not irfftn (which would drop an imaginary part silently)
    full = torch.fft.ifftn(torch.fft.fftn(video.frames.double(), dim=(1, 2, 3)) * torch.polar(torch.ones_like(phase), phase), dim=(1, 2, 3))
    assert float(full.imag.abs().max()) < 1e-12 * float(full.real.abs().max())
    torch.testing.assert_close(scramble_phase(video.frames, seed=3), full.real, rtol=0, atol=1e-12)


def test_one_shared_phase_field_keeps_colour_relations():
    video = natural_like()

    def cross(frames):  # phase differences between R and G, frequency by frequency
        return spectrum(frames)[0] * spectrum(frames)[1].conj()

    original = cross(video.frames)
    mask = original.abs() > 1e-6 * original.abs().max()
    shared, independent = (cross(scramble_phase(video.frames, seed=1, per_channel=p)) for p in (False, True))
    torch.testing.assert_close(shared[mask].angle().cos(), original[mask].angle().cos(), atol=1e-6, rtol=0)
    assert float((independent[mask].angle() - original[mask].angle()).cos().mean()) < 0.5


def test_the_seed_decides_the_phases():
    video = natural_like()
    a, b, c = (scramble_phase(video.frames, seed=s) for s in (1, 1, 2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_mappings_into_the_unit_range():
    raw = scramble_phase(natural_like().frames, seed=0)
    assert raw.min() < 0 or raw.max() > 1  # there is something to map
    clipped, info = map_to_unit(raw, "clip")
    assert clipped.min() >= 0 and clipped.max() <= 1 and 0 < info["clipped_fraction"] < 0.5
    scaled, info = map_to_unit(raw, "scale")
    assert scaled.min() >= 0 and scaled.max() <= 1 and 0 < info["contrast_scale"] < 1
    # scaling keeps the shape of the spectrum exactly: every amplitude but the mean falls by the same factor
    ratio = spectrum(scaled).abs() / spectrum(raw).abs()
    ratio[:, 0, 0, 0] = info["contrast_scale"]
    significant = spectrum(raw).abs() > 1e-3 * spectrum(raw).abs().max()
    torch.testing.assert_close(ratio[significant], torch.full_like(ratio[significant], info["contrast_scale"]), rtol=1e-4, atol=0)
    assert amplitude_change(raw, scaled) == pytest.approx(1 - info["contrast_scale"], rel=1e-4)
    # alternating projections come closer to the scrambled spectrum than one clipping, and stay in [0, 1]
    iterated, info = map_to_unit(raw, "iterate", iterations=20)
    assert iterated.min() >= 0 and iterated.max() <= 1
    assert amplitude_change(raw, iterated) < amplitude_change(raw, clipped) / 3
    with pytest.raises(ConfigError, match="clip, scale, iterate"):
        map_to_unit(raw, "squash")


def test_store_is_complete_and_records_the_spectral_cost_of_the_mapping(tmp_path):
    video = natural_like()
    synthesizer = STPSSynthesizer({"content": video}, seed=4)
    store = synthesizer.synthesize(tmp_path / "stps.zarr", progress=False)
    assert store.complete and store.method == "stps"
    result = store.video()
    assert result.shape == video.shape and 0 <= float(result.frames.min()) and float(result.frames.max()) <= 1
    raw = synthesizer.scrambled()
    torch.testing.assert_close(result.frames, raw.clamp(0, 1).float())
    change = amplitude_change(raw, result.frames)
    assert 0 < change < 0.2
    assert store.attrs["stps_amplitude_change"] == pytest.approx(change)
    assert 0 < store.attrs["stps_clipped_fraction"] < 0.5 and store.attrs["stps_contrast_scale"] == 1.0
    dataset = xr.open_zarr(tmp_path / "stps.zarr")
    assert sorted(dataset.data_vars) == ["target", "video"]  # no optimisation: no histories
    assert dataset.attrs["seed"] == 4 and "mapping" in dataset.attrs["config"]
    # a finished store is left as it is
    again = STPSSynthesizer({"content": video}, seed=4).synthesize(tmp_path / "stps.zarr", progress=False)
    torch.testing.assert_close(again.video().frames, result.frames)


def test_registered_with_a_default_preset():
    assert get_registry("synthesizers").get("stps").factory is STPSSynthesizer
    config = STPSSynthesizer.resolve()
    assert config.mapping == "clip" and config.per_channel is False
    with pytest.raises(ConfigError, match="mapping"):
        STPSSynthesizer.resolve(overrides=["mapping=squash"])


def test_a_single_frame_is_refused():
    with pytest.raises(ConfigError, match="at least 2 frames"):
        STPSSynthesizer({"content": natural_like(frames=1)})


def test_stst_synth_stps_and_export(tmp_path):
    clip = write_video(natural_like(frames=6), tmp_path / "clip.npz")
    out = tmp_path / "out.zarr"
    runner = CliRunner()
    result = runner.invoke(build_cli(), ["synth", "stps", str(clip), "-o", str(out), "--seed", "7", "--set", "per_channel=true", "--quiet"])
    assert result.exit_code == 0, result.output
    store = StimulusStore(out)
    assert store.complete and store.attrs["seed"] == 7 and store.config["per_channel"] is True
    assert "6 frames of" in result.output
    again = runner.invoke(build_cli(), ["synth", "stps", str(clip), "-o", str(out), "--seed", "7", "--set", "per_channel=true", "--quiet"])
    assert again.exit_code == 0 and "already complete, left as it is" in again.output
    with pytest.raises(STSTError, match="store's own attributes"):
        store.update_attrs({"status": "complete", "stps_note": 1})
    exported = tmp_path / "stps.npz"
    result = runner.invoke(build_cli(), ["export", str(out), str(exported)])
    assert result.exit_code == 0, result.output
    torch.testing.assert_close(read_video(exported).frames, store.video().frames)


def test_amplitude_spectrum_of_a_natural_video(shared_data_dir):
    video = read_video(shared_data_dir / "videos" / "animal.mp4", num_frames=8, size=64)
    raw = scramble_phase(video.frames, seed=0)
    before, after = spectrum(video.frames).abs(), spectrum(raw).abs()
    assert float((after - before).abs().max() / before.max()) < 1e-5
    mapped, _ = map_to_unit(raw, "clip")
    assert amplitude_change(raw, mapped) < 0.1  # clipping a natural video's scramble costs a few percent
