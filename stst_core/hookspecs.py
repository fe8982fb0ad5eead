"""The hooks a plugin can implement.

Every hook follows the *register callback* style: the toolkit calls the hook
with a ``register`` function and the plugin calls it once per thing it
contributes. A plugin is any module or object whose functions are decorated
with :data:`hookimpl` and that is announced in the ``stst.plugins`` entry-point
group, for example in its ``pyproject.toml``::

    [project.entry-points."stst.plugins"]
    my_plugin = "my_package.stst_plugin"

The first-party backbones, losses and methods are registered through exactly
the same mechanism.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "stst"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def stst_register_backbones(register):
    """Contribute backbones: networks that map a video to named layer activations.

    Call ``register(name, factory)`` once per backbone. ``factory`` is called as
    ``factory(weights=..., **options)`` and must return a
    :class:`stst_core.Backbone`; a :class:`~stst_core.Backbone` subclass is the
    usual factory, since its class attributes (``weights_choices``, ``card``)
    describe it without building it. Names are lower case and unique across all
    plugins (``"vgg19"``, ``"msoe"``).

    Example::

        from stst_core import Backbone, hookimpl

        class TinyNet(Backbone):
            ...

        @hookimpl
        def stst_register_backbones(register):
            register("tinynet", TinyNet)
    """


@hookspec
def stst_register_losses(register):
    """Contribute losses: callables ``loss(synthesised, target) -> scalar tensor``.

    Call ``register(name, loss)`` once per loss. ``loss`` receives two
    activation tensors of the same layer (batch first, layout as the backbone
    declares it) and returns a 0-d tensor that is differentiable with respect
    to the first argument. Factories that need options (for example a Gram loss
    with a choice of normalisation) are registered as classes; the toolkit
    instantiates them with keyword arguments from the configuration.

    Example::

        import torch
        from stst_core import hookimpl

        def mean_abs(synth, target):
            return (synth - target).abs().mean()

        @hookimpl
        def stst_register_losses(register):
            register("mean_abs", mean_abs)
    """


@hookspec
def stst_register_synthesizers(register):
    """Contribute synthesizers: methods that generate a stimulus (``stst``, ``two-stream``, ``stps``).

    Call ``register(name, synthesizer_class)``. The class is built from targets,
    backbones, losses and a configuration, and its ``synthesize()`` writes to a
    stimulus store and can be called again to resume. The ``stst synth NAME``
    command runs it.

    Example::

        from stst_core import hookimpl

        @hookimpl
        def stst_register_synthesizers(register):
            register("my-method", MyMethodSynthesizer)
    """


@hookspec
def stst_register_metrics(register):
    """Contribute metrics that compare a generated video with its target.

    Call ``register(name, metric)``; ``metric(generated, target)`` receives two
    :class:`stst_core.Video` values and returns a float or a mapping of named
    floats (a distance: 0 for identical videos). ``stst metrics`` reports every
    registered metric.

    Example::

        from stst_core import hookimpl

        def mean_luminance_difference(generated, target):
            return float((generated.frames.mean() - target.frames.mean()).abs())

        @hookimpl
        def stst_register_metrics(register):
            register("mean_luminance", mean_luminance_difference)
    """


@hookspec
def stst_register_commands(cli):
    """Add commands to the ``stst`` command line.

    ``cli`` is the top-level :class:`click.Group`; add commands or groups to it
    with its decorators. Command names must not clash with built-in ones.

    Example::

        import click
        from stst_core import hookimpl

        @hookimpl
        def stst_register_commands(cli):
            @cli.command()
            @click.argument("name")
            def hello(name):
                "Say hello."
                click.echo(f"Hello, {name}!")
    """
