"""Deterministic algorithms: the switch (stst_core.deterministic), the synth command's --deterministic, and runs that repeat bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import torch

from stst_core import StimulusStore, Video, deterministic, get_registry, write_video
from stst_core._device import CUBLAS_WORKSPACE_CONFIG, nondeterminism_problem
from stst_core.testing import assert_cli_error, run_cli

# what torch says when an operation has no deterministic implementation (its wording, shortened)
REFUSAL = (
    "upsample_bilinear2d_backward_out_cuda does not have a deterministic implementation, but you set "
    "'torch.use_deterministic_algorithms(True)'. You can turn off determinism just for this operation, or you can use the 'warn_only=True' option"
)


def torch_settings() -> tuple:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )


@pytest.fixture(autouse=True)
def restored(monkeypatch):
    """Every test leaves torch's settings and CUBLAS_WORKSPACE_CONFIG as it found them: they are the whole process's."""
    before = torch_settings()
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    algorithms, warn_only, benchmark, cudnn_deterministic = before
    torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, cudnn_deterministic


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_video(Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10), tmp_path / "clip.npz")


def quick_settings(method: str) -> list[str]:
    """The command-line options of a method's quick settings (its quick preset and overrides)."""
    cls = get_registry("synthesizers").get(method).factory
    return ["--preset", cls.quick_preset, *(arg for override in cls.quick_overrides for arg in ("--set", override))]


# -- the switch ----------------------------------------------------------------------------


def test_the_switch_sets_torchs_flags_for_the_whole_process():
    torch.backends.cudnn.benchmark = True
    deterministic(True)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()  # an operation without a deterministic version raises
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE_CONFIG == ":4096:8"
    deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark  # a speed choice: left as it is
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # cuBLAS has read it by now: it stays


def test_as_a_context_manager_the_settings_come_back():
    with deterministic(True):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        with deterministic(False):
            assert not torch.are_deterministic_algorithms_enabled()
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic


def test_a_cublas_setting_of_ones_own_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with deterministic(True):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_setting_cublas_after_cuda_started_is_warned_about(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.warns(RuntimeWarning, match="before any CUDA work"), deterministic(True):
        pass


def test_torchs_refusal_is_read_for_the_operation_it_names():
    with deterministic(True), pytest.raises(RuntimeError) as refused:
        torch.zeros(4).put_(torch.tensor([1]), torch.tensor([1.0]))  # put_ has no deterministic version, on any device
    assert nondeterminism_problem(refused.value).startswith(f"put_ has no deterministic implementation in PyTorch {torch.__version__}")
    assert nondeterminism_problem(RuntimeError(REFUSAL)).startswith("upsample_bilinear2d_backward_out_cuda has no deterministic implementation")
    assert nondeterminism_problem(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None


# -- the synth command ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, expected",
    [
        ([], False),
        (["--seed", "3"], True),
        (["--seed", "0"], True),  # given, even if it is the default value
        (["--seed", "3", "--no-deterministic"], False),
        (["--deterministic"], True),
    ],
)
def test_the_flag_reaches_torch_during_the_run(tmp_path, monkeypatch, clip, options, expected):
    cls = get_registry("synthesizers").get("stps").factory
    seen = []
    run = cls.run

    def spy(self, store, **kwargs):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic))
        return run(self, store, **kwargs)

    monkeypatch.setattr(cls, "run", spy)
    result = run_cli("synth", "stps", clip, "-o", tmp_path / "s.zarr", "--quiet", *options)
    assert result.exit_code == 0, result.output
    assert seen == [(expected, expected)]
    assert not torch.are_deterministic_algorithms_enabled()  # put back after the command


def test_an_operation_without_a_deterministic_version_is_one_line_naming_it_and_the_fix(tmp_path, monkeypatch, clip):
    cls = get_registry("synthesizers").get("stps").factory

    def refuse(self, store, **kwargs):
        raise RuntimeError(REFUSAL)

    monkeypatch.setattr(cls, "run", refuse)
    message = assert_cli_error(
        "synth", "stps", clip, "-o", tmp_path / "s.zarr", "--seed", "1", says=["upsample_bilinear2d_backward_out_cuda", "--no-deterministic"]
    )
    assert "stps on cpu" in message and "--seed (which turns --deterministic on)" in message
    assert "--deterministic asks" in assert_cli_error("synth", "stps", clip, "-o", tmp_path / "t.zarr", "--deterministic", says=["--no-deterministic"])
    assert not torch.are_deterministic_algorithms_enabled()


def test_a_seed_given_to_a_command_that_invokes_synth_counts(tmp_path):
    """`stst recover` calls the synth command with ctx.invoke: the --seed given to it is the one that counts."""
    from stst_core.cli import seed_given

    seen = []
    inner = click.Command("inner", params=[click.Option(["--seed"], default=0)], callback=lambda seed: seen.append(seed_given(click.get_current_context())))
    outer = click.Command("outer", params=[click.Option(["--seed"], default=0)], callback=lambda seed: click.get_current_context().invoke(inner, seed=seed))
    for args in ([], ["--seed", "2"]):
        outer.main(args, standalone_mode=False)
    assert seen == [False, True]


def test_the_flag_is_documented_in_the_help():
    text = " ".join(run_cli("synth", "stst", "--help").output.split())
    assert "--deterministic / --no-deterministic" in text and "on when --seed is given" in text


@pytest.mark.slow
def test_two_cpu_runs_with_one_seed_are_bit_identical(tmp_path, clip):
    videos = []
    for name in ("a.zarr", "b.zarr"):
        result = run_cli("synth", "stst", clip, "-o", tmp_path / name, *quick_settings("stst"), "--seed", "7", "--deterministic", "--quiet")
        assert result.exit_code == 0, result.output
        videos.append(StimulusStore(tmp_path / name).video().frames)
    assert torch.equal(videos[0], videos[1])
    assert videos[0].std() > 0  # a real result, not two blanks


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_two_cuda_runs_of_the_stst_quick_settings_are_bit_identical(tmp_path, clip):
    # each run in a process of its own, as `stst` runs: CUBLAS_WORKSPACE_CONFIG is set before CUDA starts
    stst = Path(sys.executable).parent / "stst"
    environment = {key: value for key, value in os.environ.items() if key != "CUBLAS_WORKSPACE_CONFIG"}
    videos = []
    for name in ("a.zarr", "b.zarr"):
        command = [str(stst), "synth", "stst", str(clip), "-o", str(tmp_path / name), *quick_settings("stst"), "--seed", "7", "--device", "cuda", "--quiet"]
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        # every operation of STST has a deterministic CUDA implementation (MSOE up-samples by matrix products): no refusal
        assert result.returncode == 0, result.stderr
        videos.append(StimulusStore(tmp_path / name).video().frames)
    assert torch.equal(videos[0], videos[1])
