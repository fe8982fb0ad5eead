"""The installed environment is consistent: what pyproject.toml declares is what the code needs, and nothing conflicts."""

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# import names whose distribution is called otherwise
DISTRIBUTION_OF = {"cv2": "opencv-python", "PIL": "pillow", "av": "av", "yaml": "pyyaml", "tomli_w": "tomli-w", "skimage": "scikit-image"}
FIRST_PARTY = ("stst_", "example_stst_plugin")
OPTIONAL = {"triton"}  # imported only where installed (stst_psychopy.testing), never required


def declared() -> set[str]:
    names = {Requirement(r).name.lower() for r in PROJECT["dependencies"]}
    return names | {Requirement(r).name.lower() for group in PROJECT["optional-dependencies"].values() for r in group}


def test_pip_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_distribution_provides_cv2():
    """opencv-python (which PsychoPy requires) and opencv-python-headless would both write the same cv2 package."""
    assert packages_distributions()["cv2"] == ["opencv-python"]


def test_python_requirement_admits_no_release_a_dependency_excludes():
    """A release of Python that requires-python admits must be one every dependency installs on (zarr 3: 3.11+)."""
    ours = SpecifierSet(PROJECT["requires-python"])
    for name in ("zarr", "psychopy", "torch"):
        theirs = distribution(name).metadata.get("Requires-Python")
        if not theirs:
            continue
        for minor in range(8, 14):
            version = f"3.{minor}"
            assert not (version in ours and version not in SpecifierSet(theirs)), f"Python {version}: allowed here, but {name} requires {theirs}"


def test_every_third_party_import_is_declared():
    """A module imported by the toolkit's code must be a declared dependency, not one that happens to come with another."""
    sources = [*REPO.glob("stst_core/**/*.py"), *REPO.glob("stst_psychopy/**/*.py"), *REPO.glob("plugins/stst_*/**/*.py")]
    standard = set(sys.stdlib_module_names)
    missing = {}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in standard or top.startswith(FIRST_PARTY) or top in OPTIONAL:
                    continue
                name = DISTRIBUTION_OF.get(top, top).lower().replace("_", "-")
                if name not in declared():
                    missing.setdefault(name, str(path.relative_to(REPO)))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
