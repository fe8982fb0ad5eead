"""``stst compare``: layer-by-layer similarity of two conditions in an activation store."""

from __future__ import annotations

from pathlib import Path

import click

from .._comparison import Selection, compare, plot_comparison
from .._config import MAX_SEED
from ..similarity import METRICS, RDM_COMPARISONS, RDM_METRICS


def register(cli: click.Group) -> None:
    cli.add_command(compare_command)


@click.command("compare")
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.option("--between", "between", required=True, metavar="KEY=VALUE", help="First set of stimuli, e.g. condition=natural.")
@click.option("--and", "and_", required=True, metavar="KEY=VALUE", help="Second set, e.g. condition=stst.")
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default="cka",
    show_default=True,
    help="cka and rsa compare each set's geometry (3 or more pairs); paired-corr compares each pair by itself (any number).",
)
@click.option("--debiased", is_flag=True, help="Debiased CKA (needs 4 or more pairs).")
@click.option("--rdm", "rdm_metric", type=click.Choice(RDM_METRICS), default="correlation", show_default=True, help="RSA: dissimilarity.")
@click.option(
    "--rdm-compare",
    "rdm_comparison",
    type=click.Choice(RDM_COMPARISONS),
    default="spearman",
    show_default=True,
    help="RSA: how RDMs are compared (kendall = tau-a).",
)
@click.option(
    "--pair-by",
    type=click.Choice(["source", "order"]),
    default="source",
    show_default=True,
    help="Pair stimuli made from the same source video, or in stored order.",
)
@click.option("--layers", "variables", help="Only variables matching this wildcard, e.g. 'vgg19.*'.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True, help="Bootstrap resamplings (0: no interval).")
@click.option("--level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True, help="Confidence level.")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=0, show_default=True, help="Seed of the bootstrap resamplings.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the table as CSV.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), help="Write the figure (PNG, PDF, SVG).")
def compare_command(store, between, and_, metric, debiased, rdm_metric, rdm_comparison, pair_by, variables, bootstrap, level, seed, output, plot_path):
    """Similarity of two sets of stimuli in every layer of STORE, with bootstrap intervals."""
    table = compare(
        store,
        Selection.parse(between),
        Selection.parse(and_),
        metric=metric,
        debiased=debiased,
        rdm_metric=rdm_metric,
        rdm_comparison=rdm_comparison,
        pair_by=pair_by,
        variables=variables,
        bootstrap=bootstrap,
        level=level,
        seed=seed,
    )
    shown = table[["backbone", "layer", "depth", "value", "ci_low", "ci_high", "pairs"]]
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="n/a"))
    fewest = int(table["pairs"].min()) if len(table) else 0
    if bootstrap and fewest < 2:
        click.echo(f"note: {fewest} pair{'' if fewest == 1 else 's'}: no bootstrap interval (resampling needs 2 or more pairs)", err=True)
    elif bootstrap and fewest < 10:
        # resamples of a handful of stimuli repeat most of them: the percentile interval is little more than a range
        click.echo(f"note: {fewest} pairs; bootstrap intervals over fewer than 10 stimuli are rough", err=True)
    if output:
        table.to_csv(output, index=False)
        click.echo(f"wrote {output}")
    if plot_path:
        plot_comparison(table, plot_path)
        click.echo(f"wrote {plot_path}")
