"""``stst metrics`` and ``stst compare-methods``: tables, JSON, CSV and report cards of metrics."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from stst_core import (
    ConfigError,
    StimulusStore,
    STSTError,
    Video,
    apply_overrides,
    atomic_output,
    create_metrics,
    evaluate_metrics,
    format_table,
    get_registry,
    is_store,
    read_stimulus,
    read_video,
    toolkit_versions,
    video_fingerprint,
    write_text_atomically,
    write_video,
)
from stst_core.cli import device_option, option_option, quiet_option, seed_option, video_options


def metric_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["gram.backbone=msoe", "gram.options.levels=3"]`` → ``{"gram": {"backbone": "msoe", "options": {"levels": 3}}}``."""
    for item in items:
        key = item.partition("=")[0]
        if "." not in key:
            raise ConfigError(f"--option expects METRIC.KEY=VALUE (e.g. gram.backbone=msoe), got {item!r}")
    return apply_overrides({}, items)


def _json_number(value: float) -> float | None:
    return None if not math.isfinite(value) else value  # NaN and infinity are not JSON


class Results:
    """Rows of metric values, one per generated stimulus, and how to write them."""

    def __init__(self, metrics: dict, options: dict):
        self.metrics = metrics
        self.options = options
        self.rows: list[dict[str, Any]] = []

    def add(self, label: str, source: str, method: str | None, target: Video, values: dict[str, float]) -> None:
        self.rows.append({"label": label, "stimulus": source, "method": method, "target": video_fingerprint(target), "values": values})

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(key for row in self.rows for key in row["values"]))

    def table(self) -> str:
        """Metrics as rows and stimuli as columns: many metrics read better down than across."""
        headers = ["METRIC", *[row["label"] for row in self.rows]]
        lines = [[key, *[f"{row['values'].get(key, float('nan')):.4g}" for row in self.rows]] for key in self.columns]
        return format_table(headers, lines)

    def write_json(self, path: Path) -> Path:
        registry = get_registry("metrics")
        record = {
            "metrics": {
                name: {"summary": registry.get(name).summary, "plugin": registry.get(name).plugin, "options": self.options.get(name, {})}
                for name in self.metrics
            },
            "columns": self.columns,
            "stimuli": [{**row, "values": {k: _json_number(v) for k, v in row["values"].items()}} for row in self.rows],
            "versions": toolkit_versions(),
        }
        write_text_atomically(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
        return path

    def write_csv(self, path: Path) -> Path:
        """One row per stimulus, one column per metric value (empty where undefined)."""
        with atomic_output(path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["stimulus", "method", *self.columns])
            for row in self.rows:
                values = [row["values"].get(key) for key in self.columns]
                writer.writerow([row["stimulus"], row["method"] or "", *["" if v is None or not math.isfinite(v) else repr(v) for v in values]])
        return path


def _renamed_set(ctx, param, value):
    if value:
        raise click.BadParameter("--set changes a configuration; a metric's options are given with --option METRIC.KEY=VALUE")
    return value


@click.command("metrics")
@click.argument("generated", nargs=-1, type=click.Path(path_type=Path))
@click.option("--target", type=click.Path(path_type=Path), help="The video to compare with (a file, or a store: its target). Default: each store's own target.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the values as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the values as CSV (one row per stimulus).")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw a report card (PNG): frames, power spectra, flow histograms, autocorrelation."
)
@click.option("--metric", "patterns", multiple=True, metavar="NAME", help="Only these metrics (names or wildcards such as 'flow*'; repeatable). Default: all.")
@option_option(named=True, example="gram.backbone=msoe")
@click.option("--set", "renamed_set", multiple=True, hidden=True, expose_value=False, callback=_renamed_set)
@video_options(crop=False, what="video")
@click.option("--list", "list_only", is_flag=True, help="List the registered metrics and exit (as `stst metrics list`).")
@quiet_option
def metrics(generated, target, output, csv_path, plot, patterns, options, start, frames, stride, size, list_only, quiet):
    """Compare GENERATED videos or stimulus stores with their target: a table, and optionally JSON, CSV and a figure.

    Every metric is distance-like (0 = the same as the target) except
    novelty, which is 1 for an exact copy. `stst metrics list` names them
    (with a PATTERN such as 'flow*': those matching it); docs: "Stimulus metrics".
    """
    if list_only or (generated and generated[0] == Path("list") and not Path("list").exists()):
        registry = get_registry("metrics")
        pattern = str(generated[1]) if len(generated) > 1 and not list_only else None
        rows = [(e.name, e.plugin, e.summary) for e in registry if e.name in registry.names(pattern)]
        click.echo(format_table(["NAME", "PLUGIN", "DESCRIPTION"], rows))
        return
    if not generated:
        raise click.UsageError("give at least one GENERATED video or stimulus store (or `stst metrics list`)")
    options = metric_options(options)
    built = create_metrics(patterns or None, options)
    selection = {"start": start, "num_frames": frames, "stride": stride, "size": size}
    common_target = _read_target(target, selection) if target else None
    stimuli = []  # (path, label, method, video, target): all read and checked before anything is measured
    for path in generated:
        video, own_target = read_stimulus(path, **selection)
        reference = common_target or own_target
        if reference is None:
            raise STSTError(f"{path} is a video file, which records no target; give one with --target")
        method = StimulusStore(path).method if is_store(path) else None
        stimuli.append((path, path.name + (f" ({method})" if method else ""), method, video, reference))
    if plot and len({video_fingerprint(s[4])["sha256"] for s in stimuli}) > 1:
        raise STSTError("the stimuli have different targets, so one report card cannot show them; give --target, or plot them one by one")

    results = Results(built, options)
    with click.progressbar(stimuli, label="measuring", hidden=quiet, file=sys.stderr) as bar:
        for path, _, method, video, reference in bar:
            results.add(path.name, str(path), method, reference, evaluate_metrics(video, reference, metrics=built))
    click.echo(results.table())
    written = []
    if output:
        written.append(results.write_json(output))
    if csv_path:
        written.append(results.write_csv(csv_path))
    if plot:
        from .report import report_card

        written.append(report_card(stimuli[0][4], [(label, video) for _, label, _, video, _ in stimuli], plot))
    for path in written:
        click.echo(f"wrote {path}")


def _read_target(path: Path, selection: dict) -> Video:
    """A target given on the command line: a video file, or a store's target."""
    if is_store(path):
        _, target = read_stimulus(path, **selection)
        return target
    return read_video(path, **selection)


def _per_method(items: Sequence[str], separator: str, methods: Sequence[str], flag: str, example: str) -> dict[str, list[str]]:
    """``["stst=offline"]`` or ``["stst:octaves.0.steps=5"]`` → ``{method: [rest, ...]}``, checking the method names."""
    found: dict[str, list[str]] = {}
    for item in items:
        method, sep, rest = item.partition(separator)
        if not sep or not rest:
            raise ConfigError(f"{flag} expects {example}, got {item!r}")
        if method.lower() not in methods:
            raise ConfigError(f"{flag} {item!r}: {method!r} is not one of the methods compared ({', '.join(methods)})")
        found.setdefault(method.lower(), []).append(rest)
    return found


def method_configs(names: Sequence[str], presets: Sequence[str], overrides: Sequence[str]) -> dict[str, tuple[str | None, Any]]:
    """``{method: (preset name, config)}``: each method's ``--preset`` (default: ``offline`` where it has one) with its ``--set`` overrides."""
    registry = get_registry("synthesizers")
    classes = {name: registry.get(name).factory for name in names}
    chosen = {m: p[-1] for m, p in _per_method(presets, "=", names, "--preset", "METHOD=PRESET").items()}
    settings = _per_method(overrides, ":", names, "--set", "METHOD:KEY=VALUE")
    configs = {}
    for name, cls in classes.items():
        preset = chosen.get(name) or ("offline" if "offline" in getattr(cls, "presets", {}) else None)
        configs[name] = (preset or cls.default_preset, cls.resolve(preset, None, settings.get(name, ())))
    return configs


@click.command("compare-methods")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for stores, videos, metrics and the report card.")
@click.option("--methods", default="stst,stps", show_default=True, help="Registered synthesizers to compare, comma-separated.")
@click.option(
    "--preset", "presets", multiple=True, metavar="METHOD=PRESET", help="A method's preset (default: 'offline' where a method has one, else its default)."
)
@click.option(
    "--set", "overrides", multiple=True, metavar="METHOD:KEY=VALUE", help="Override a method's setting, e.g. --set stst:octaves.0.steps=50 (repeatable)."
)
@video_options(frames=8, size=128)
@click.option("--metric", "patterns", multiple=True, metavar="NAME", help="Only these metrics (names or wildcards; repeatable). Default: all.")
@seed_option
@device_option
@click.option("--overwrite", is_flag=True, help="Make every stimulus again (default: resume or reuse the stores in OUTPUT).")
@quiet_option
def compare_methods(input_path, output, methods, presets, overrides, start, frames, stride, size, crop, patterns, seed, device, overwrite, quiet):
    """Make a stimulus of INPUT with each method, then measure each against INPUT.

    Writes OUTPUT/<method>.zarr and .mp4, target.mp4, metrics.json, metrics.csv
    and report.png. The default compares an STST metamer (offline preset)
    with an STPS stimulus, as in the STST paper.
    """
    names = [m.strip().lower() for m in methods.split(",") if m.strip()]
    if not names:
        raise ConfigError("--methods names no method")
    configs = method_configs(names, presets, overrides)  # unknown methods and bad settings fail before any work
    classes = {name: get_registry("synthesizers").get(name).factory for name in names}
    built = create_metrics(patterns or None)

    target = read_video(input_path, start=start, num_frames=frames, stride=stride, size=size, crop=crop)
    output.mkdir(parents=True, exist_ok=True)
    write_video(target, output / "target.mp4")
    results = Results(built, {})
    stimuli = []
    for name, cls in classes.items():
        preset, config = configs[name]
        if not quiet:
            click.echo(f"{name} ({preset} preset) → {output / f'{name}.zarr'}", err=True)
        store = cls({"content": target}, config, seed=seed, device=device).synthesize(output / f"{name}.zarr", overwrite=overwrite, progress=not quiet)
        video = store.video()
        write_video(video, output / f"{name}.mp4")
        results.add(name, str(store.path), name, target, evaluate_metrics(video, target, metrics=built, progress=not quiet))
        stimuli.append((f"{name} ({preset})", video))
    click.echo(results.table())
    from .report import report_card

    results.write_json(output / "metrics.json")
    results.write_csv(output / "metrics.csv")
    report_card(target, stimuli, output / "report.png", title=f"{input_path.name}: frames {start}–{start + (target.num_frames - 1) * stride}")
    click.echo(f"wrote {output}/: {', '.join(f'{n}.zarr, {n}.mp4' for n in names)}, target.mp4, metrics.json, metrics.csv, report.png")
