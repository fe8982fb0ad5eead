"""Sphinx configuration. The test suite builds these docs with warnings as errors."""

import sys
from pathlib import Path

import stst_core
from stst_core.cli import build_cli

sys.path.insert(0, str(Path(__file__).parent))
import _api  # noqa: E402
import _pictures  # noqa: E402

_api.write(Path(__file__).parent)  # api.md, from stst_core.__all__

build_cli()  # add the installed plugins' commands (stst demo…) to the documented group

project = "STST toolkit"
author = "The STST toolkit developers"
release = stst_core.__version__
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_click",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
napoleon_numpy_docstring = True
napoleon_google_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
exclude_patterns = ["_build", "_api.py"]
html_theme = "furo"
html_title = f"STST toolkit {release}"
suppress_warnings = ["myst.xref_missing"]


def _make_pictures(app) -> None:
    """The contact sheet, report card and CKA figure the pages show (docs/_generated/), from a tiny demo run; reused while nothing they depend on changes."""
    from sphinx.util import logging

    logging.getLogger(__name__).info("pictures: %s", ", ".join(path.name for path in _pictures.make()))


def setup(app):
    app.connect("builder-inited", _make_pictures)
