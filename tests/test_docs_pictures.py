"""The docs' pictures (docs/_pictures.py): remade only when what draws them changes, never committed."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture
def pictures(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS))
    import _pictures

    yield _pictures
    sys.modules.pop("_pictures", None)


def test_pictures_are_reused_until_their_key_changes(pictures, tmp_path, monkeypatch):
    drawn = []

    def draw(work):
        drawn.append(work)
        for name in pictures.PICTURES:
            (work / name).write_bytes(b"png of " + name.encode())
        return [work / name for name in pictures.PICTURES]

    monkeypatch.setattr(pictures, "_draw", draw)
    folder = tmp_path / "_generated"

    paths = pictures.make(folder)
    assert [p.name for p in paths] == list(pictures.PICTURES) and all(p.read_bytes().startswith(b"png of") for p in paths)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*pictures.PICTURES, "key"])  # no working folder left behind

    pictures.make(folder)
    assert len(drawn) == 1  # same key: reused

    (folder / "cka.png").unlink()
    pictures.make(folder)
    assert len(drawn) == 2  # a picture missing: made again

    monkeypatch.setattr(pictures, "fingerprint", lambda: "another toolkit")
    pictures.make(folder)
    assert len(drawn) == 3  # something they depend on changed


def test_the_key_follows_the_source(pictures, tmp_path, monkeypatch):
    root = tmp_path / "repo"
    for part in ("stst_core", "plugins/stst_x", "docs"):
        (root / part).mkdir(parents=True)
    shutil.copy(DOCS / "_pictures.py", root / "docs" / "_pictures.py")
    (root / "stst_core" / "a.py").write_text("x = 1\n")
    (root / "plugins" / "stst_x" / "b.py").write_text("y = 1\n")
    monkeypatch.setattr(pictures, "HERE", root / "docs")
    monkeypatch.setattr(pictures, "__file__", str(root / "docs" / "_pictures.py"))

    before = pictures.fingerprint()
    assert pictures.fingerprint() == before
    (root / "plugins" / "stst_x" / "b.py").write_text("y = 2\n")
    assert pictures.fingerprint() != before


def test_generated_pictures_are_ignored_by_git():
    repo = DOCS.parent
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "-q", "docs/_generated/cka.png"], cwd=repo)
    assert result.returncode == 0
