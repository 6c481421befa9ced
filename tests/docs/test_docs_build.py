"""`mkdocs build --strict` succeeds offline, and the API reference documents every public interface.

The reference is generated from the docstrings, so what it shows follows the code; this test makes sure each
interface keeps its page and each page keeps every public member of its interface (a method added to
``Objective`` but hidden from the reference fails here), and that building fetches nothing from the network.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import birdie_core
from birdie_core import errors, hookspecs

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install 'birdie-core[docs]')")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parents[2]

# Runs mkdocs with every outgoing connection refused: an inventory, font or asset fetched at build time would
# fail the strict build instead of passing on a machine that happens to be online.
_OFFLINE_MKDOCS = """
import socket, sys

def refuse(*args, **kwargs):
    print("NETWORK-ACCESS-ATTEMPTED", args[1:] or args, file=sys.stderr)
    raise OSError("network access is blocked while the docs build")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from mkdocs.__main__ import cli
sys.exit(cli(["build", "--strict", "--site-dir", sys.argv[1], "--config-file", sys.argv[2]]))
"""

#: the page of each interface and data type, and what must be documented on it
PAGES: dict[str, tuple[str, ...]] = {
    "reference/objective": ("Objective", "ObjectiveContext", "Example"),
    "reference/packer": ("Packer", "PackedBatch"),
    "reference/reward": ("RewardFn", "RewardConfig"),
    "reference/agent": ("Agent", "Arm", "Decision"),
    "reference/tokenizer": ("Tokenizer",),
    "reference/source": ("Source", "Document", "Shard"),
    "reference/config": (
        "ComponentConfig",
        "ObjectiveConfig",
        "PackerConfig",
        "AgentConfig",
        "TokenizerConfig",
        "SourceConfig",
    ),
}


def _public_members(cls: type) -> set[str]:
    """Names a class defines itself (methods, attributes, annotated protocol members), dunders but ``__call__``
    left out."""
    names = set(vars(cls)) | set(getattr(cls, "__annotations__", {}))
    return {n for n in names if not n.startswith("_") or n == "__call__"} - {"model_config", "model_fields"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_MKDOCS, str(out), str(ROOT / "mkdocs.yml")],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert "NETWORK-ACCESS-ATTEMPTED" not in log, f"the docs build tried to reach the network:\n{log}"
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, log
    return out


def _page(site: Path, page: str) -> str:
    path = site / page / "index.html"
    assert path.is_file(), f"the site has no page {page}/"
    return path.read_text(encoding="utf-8")


def _anchors(html: str) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', html))


@pytest.mark.slow
def test_every_interface_has_its_page_with_every_public_member(site: Path) -> None:
    for page, names in PAGES.items():
        anchors = _anchors(_page(site, page))
        for name in names:
            assert f"birdie_core.{name}" in anchors, f"{page}: {name} is not documented"
            cls = getattr(birdie_core, name)
            missing = {m for m in _public_members(cls) if f"birdie_core.{name}.{m}" not in anchors}
            assert not missing, f"{page}: {name} lacks {sorted(missing)} in the reference"


@pytest.mark.slow
def test_named_members_are_documented(site: Path) -> None:
    objective = _anchors(_page(site, "reference/objective"))
    for member in ("build", "make_example", "draw_length", "overhead", "copies_input", "special_tokens"):
        assert f"birdie_core.Objective.{member}" in objective
    tokenizer = _anchors(_page(site, "reference/tokenizer"))
    for member in ("vocab_size", "pad_id", "encode", "decode", "special_id"):
        assert f"birdie_core.Tokenizer.{member}" in tokenizer
    assert "birdie_core.RewardFn.__call__" in _anchors(_page(site, "reference/reward"))


@pytest.mark.slow
def test_every_hook_error_and_conformance_suite_is_documented(site: Path) -> None:
    hooks = _anchors(_page(site, "reference/hooks"))
    specs = [n for n, f in vars(hookspecs).items() if n.startswith("birdie_") and inspect.isfunction(f)]
    assert len(specs) >= 9
    for name in [*specs, "Register"]:
        assert f"birdie_core.hookspecs.{name}" in hooks, f"the hook {name} is not documented"

    documented = _anchors(_page(site, "reference/errors"))
    raised = [n for n, c in vars(errors).items() if isinstance(c, type) and issubclass(c, BaseException)]
    for name in raised:
        assert f"birdie_core.errors.{name}" in documented, f"the error {name} is not documented"

    from birdie_core import testing

    kit = _anchors(_page(site, "reference/testing"))
    suites = [n for n in testing.__all__ if n.endswith("Conformance")]
    assert "ObjectiveConformance" in suites
    for name in suites:
        assert f"birdie_core.testing.{name}" in kit, f"the conformance suite {name} is not documented"

    registry = _anchors(_page(site, "reference/registry"))
    assert {"birdie_core.kinds.COMPONENT_KINDS", "birdie_core.registry.load_registry"} <= registry


@pytest.mark.slow
def test_guides_and_tutorial_are_part_of_the_site_and_nothing_loads_from_a_cdn(site: Path) -> None:
    for md in (ROOT / "docs").glob("*.md"):
        page = "" if md.stem == "index" else md.stem
        html = (site / page / "index.html").read_text(encoding="utf-8")
        assert "<h1" in html, f"{md.name} was not rendered"
    for html_file in site.rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        external = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]+"', html)
        assert not external, f"{html_file.relative_to(site)} loads {external[0]} from the network"
