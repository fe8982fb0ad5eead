"""The one validator behind configs and the options of registered factories (stst_core._config)."""

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from stst_core import ConfigError, Range, resolve_config
from stst_core._config import check_arguments, describe, from_dict

Steps = Annotated[int, Range(ge=1)]


@dataclasses.dataclass
class Octave:
    steps: Steps = 10
    scale: Annotated[float, Range(le=0)] = 0.0


@dataclasses.dataclass
class Method:
    lr: Annotated[float, Range(gt=0, lt=1)] = 0.1
    octaves: list[Octave] = dataclasses.field(default_factory=lambda: [Octave()])
    mode: Literal["fast", "slow"] = "fast"
    seed_or_name: int | str = 0
    sizes: tuple[int, int] = (8, 8)


def test_config_dataclasses_take_range_bounds_and_name_dotted_keys(tmp_path):
    preset = tmp_path / "preset.toml"
    preset.write_text("lr = 0.1\n[[octaves]]\nsteps = 10\n")
    config = resolve_config(Method, preset=preset, overrides=["lr=0.5", "octaves.0.steps=3", "sizes=[4, 6]"])
    assert config.lr == 0.5 and config.octaves[0].steps == 3 and config.sizes == (4, 6)
    with pytest.raises(ConfigError, match=r"^config key 'octaves.0.steps' must be an integer ≥ 1, got 0$"):
        resolve_config(Method, preset=preset, overrides=["octaves.0.steps=0"])
    with pytest.raises(ConfigError, match=r"^config key 'lr' must be a number > 0 and < 1, got 1.0$"):
        resolve_config(Method, preset=preset, overrides=["lr=1"])
    with pytest.raises(ConfigError, match=r"^config key 'octaves.0.scale' must be a number ≤ 0, got 1.0$"):
        resolve_config(Method, preset=preset, overrides=["octaves.0.scale=1"])
    with pytest.raises(ConfigError, match=r"^config key 'sizes' must be a list of 2, got \[4\]$"):
        resolve_config(Method, preset=preset, overrides=["sizes=[4]"])


def test_strings_are_read_as_toml_values_where_another_type_is_expected():
    config = from_dict(Method, {"lr": "1e-2", "octaves": [{"steps": "7"}], "mode": "slow", "sizes": "4, 6"})
    assert (config.lr, config.octaves[0].steps, config.sizes) == (0.01, 7, (4, 6))
    # a union keeps a value of one of its own types: "3" for `int | str` stays the string
    assert from_dict(Method, {"seed_or_name": "3"}).seed_or_name == "3"
    assert from_dict(Method, {"seed_or_name": 3}).seed_or_name == 3
    with pytest.raises(ConfigError, match=r"^config key 'mode' must be one of 'fast', 'slow'; got 'quick'$"):
        from_dict(Method, {"mode": "quick"})


def test_a_schema_with_a_type_toml_cannot_give_is_a_bug_but_a_signature_may_have_one():
    @dataclasses.dataclass
    class Odd:
        where: Path = Path(".")

    with pytest.raises(ConfigError, match="unsupported type"):
        from_dict(Odd, {"where": "x"})

    def factory(where: Path = Path("."), n: int = 1):
        return where, n

    assert check_arguments(factory, {"where": "x", "n": "2"}, label="thing 'f'") == {"where": "x", "n": 2}


def test_check_arguments_names_the_key_the_type_and_the_accepted_keys():
    def blur(sigma: Annotated[float, Range(gt=0)] = 1.0, *, radius: Steps = 3):
        return sigma, radius

    assert check_arguments(blur, {"sigma": "2", "radius": 5}, label="filter 'blur'") == {"sigma": 2.0, "radius": 5}
    with pytest.raises(ConfigError, match=r"^filter 'blur': radius must be an integer ≥ 1, got 'three'$"):
        check_arguments(blur, {"radius": "three"}, label="filter 'blur'")
    with pytest.raises(ConfigError, match=r"^filter 'blur' \(plugin 'p'\) has no option\(s\) 'sigm'; its options: sigma, radius\. Did you mean 'sigma'\?$"):
        check_arguments(blur, {"sigm": 1}, label="filter 'blur'", plugin="p")


def test_factories_with_kwargs_or_annotations_not_evaluable_here():
    def open_ended(n: int = 1, **rest):
        return n

    assert check_arguments(open_ended, {"n": "4", "anything": object}, label="x")["n"] == 4

    def only_for_type_checkers(model: "NotImportedHere" = None, n: int = 1):  # noqa: F821
        return model, n

    # the annotation that cannot be evaluated is left unchecked; the others still are
    assert check_arguments(only_for_type_checkers, {"model": 5, "n": "2"}, label="x") == {"model": 5, "n": 2}
    with pytest.raises(ConfigError, match="n must be an integer"):
        check_arguments(only_for_type_checkers, {"n": "two"}, label="x")


def test_annotated_types_markers_are_understood():
    annotated_types = pytest.importorskip("annotated_types")

    def f(n: Annotated[int, annotated_types.Ge(2)] = 2, x: Annotated[float, annotated_types.Interval(gt=0, le=1)] = 1.0):
        return n, x

    with pytest.raises(ConfigError, match=r"n must be an integer ≥ 2, got 1"):
        check_arguments(f, {"n": 1}, label="x")
    with pytest.raises(ConfigError, match=r"x must be a number > 0 and ≤ 1, got 1.5"):
        check_arguments(f, {"x": 1.5}, label="x")


@pytest.mark.parametrize(
    "kind, words",
    [
        (Steps, "an integer ≥ 1"),
        (Annotated[int, Range(ge=1, le=8)], "an integer from 1 to 8"),
        (Annotated[float, Range(gt=0)] | None, "a number > 0 or None"),
        (Literal["a", "b"], "one of 'a', 'b'"),
        (list[str], "a list"),
        (dict[str, Any], "a table"),
        (bool, "true or false"),
        (Path, "a Path"),
    ],
)
def test_describe(kind, words):
    assert describe(kind) == words


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e39"])
def test_numbers_must_be_finite_in_float32(text):
    """NaN silently turned a weight off, infinity overflowed a loss, 1e39 became infinity on the device."""
    from stst_styletransfer import STSTSynthesizer

    with pytest.raises(ConfigError, match=r"'weights.spatial_style' must be a finite number \(at most 3.40e\+38 in size: float32\), got"):
        STSTSynthesizer.resolve("offline", overrides=[f"weights.spatial_style={text}"])

    def make(lr: float = 0.1): ...

    with pytest.raises(ConfigError, match="lr must be a finite number"):
        check_arguments(make, {"lr": text}, label="loss 'demo'")
    assert check_arguments(make, {"lr": "3e38"}, label="loss 'demo'") == {"lr": 3e38}


@pytest.mark.parametrize("seed", [-1, 2**63, 10**22, 1.5, True])
def test_seeds_are_checked_where_they_enter(seed):
    import torch

    from stst_core import Video, create_backbone
    from stst_stps import STPSSynthesizer

    clip = Video(torch.zeros(3, 2, 8, 8), fps=10)
    with pytest.raises(ConfigError, match=r"seed must be an integer from 0 to 9223372036854775807"):
        STPSSynthesizer({"content": clip}, seed=seed)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        create_backbone("random-multiscale", seed=seed)
