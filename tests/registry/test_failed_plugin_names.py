"""A component named by its bare name, whose plugin failed to load, is reported with that plugin's distribution
and error, exactly as its qualified name is.

The plugins here are really installed: a package and its ``.dist-info`` (with the ``birdie`` entry point) in
a directory put on ``sys.path``, or on ``PYTHONPATH`` for the ``birdie`` command. Their module imports a
dependency that does not exist, as a plugin whose requirements were not installed would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from birdie_core.kinds import KindName
from birdie_core.registry import UnknownNameError, declared_names, load_registry
from tests.support import BIRDIE, ROOT, clean_env

MISSING = "birdie_test_dependency_that_is_not_installed"

LITERAL_NAMES = f"""
    import {MISSING}  # the plugin's dependency, missing here

    from birdie_core import hookimpl


    @hookimpl
    def birdie_register_objectives(register):
        register("sent_perm", {MISSING}.SentPerm)
        register(name="sent_swap", obj={MISSING}.SentSwap)


    @hookimpl
    def birdie_register_tokenizers(register):
        register("sentences", {MISSING}.SentenceTokenizer)
"""

COMPUTED_NAMES = f"""
    import {MISSING}

    from birdie_core import hookimpl

    NAMES = ("shuffled_words", "dropped_words")


    @hookimpl
    def birdie_register_objectives(register):
        for name in NAMES:
            register(name, {MISSING}.OBJECTIVES[name])
"""


def install_plugin(
    site: Path, distribution: str, namespace: str, source: str, package_init: str = ""
) -> None:
    """A distribution in ``site`` as pip would leave it: its package and a ``.dist-info`` naming the entry point."""
    package = distribution.replace("-", "_")
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(package_init)
    (site / package / "plugin.py").write_text(textwrap.dedent(source))
    info = site / f"{package}-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text(f"[birdie]\n{namespace} = {package}.plugin\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    # each test installs its own copy of these packages: forget the one this test imported
    for name in [
        m for m in sys.modules if m.split(".")[0].startswith(("birdie_sentperm", "birdie_wordplay"))
    ]:
        del sys.modules[name]


def test_a_bare_name_of_a_failed_plugin_names_its_distribution_and_error(site: Path):
    install_plugin(site, "birdie-sentperm", "sentperm", LITERAL_NAMES)
    reg = load_registry()
    info = {p.namespace: p for p in reg.plugins}["sentperm"]
    assert info.distribution == "birdie-sentperm" and MISSING in (info.error or "")
    assert info.declared == {"objective": ("sent_perm", "sent_swap"), "tokenizer": ("sentences",)}
    assert info.declared_complete
    expected = (
        "plugin 'sentperm' from birdie-sentperm failed to load: "
        f"ModuleNotFoundError: No module named '{MISSING}'"
    )
    names: list[tuple[KindName, str]] = [
        ("objective", "sent_perm"),
        ("objective", "sent_swap"),
        ("tokenizer", "sentences"),
    ]
    for kind, bare in names:
        for name in (bare, f"sentperm.{bare}"):
            with pytest.raises(UnknownNameError) as caught:
                reg.resolve(kind, name)
            assert str(caught.value) == f"unknown {kind} {name!r}: {expected}"
    # a name the failed plugin does not register is unknown as before, without blaming the plugin
    other = reg.explain_unknown("objective", "sent_shuffle")
    assert "birdie-sentperm" not in other and other.startswith("unknown objective 'sent_shuffle'")
    # the plugin's names are also in `birdie plugins --json`
    assert info.to_dict()["declared"] == {"objective": ["sent_perm", "sent_swap"], "tokenizer": ["sentences"]}


def test_when_the_names_cannot_be_read_every_failed_plugin_is_listed_as_a_candidate(site: Path):
    install_plugin(site, "birdie-wordplay", "wordplay", COMPUTED_NAMES)
    install_plugin(site, "birdie-sentperm", "sentperm", LITERAL_NAMES)
    reg = load_registry()
    info = {p.namespace: p for p in reg.plugins}["wordplay"]
    assert info.declared == {} and not info.declared_complete
    message = reg.explain_unknown("objective", "shuffled_words")
    assert message.startswith("unknown objective 'shuffled_words'")
    assert (
        "It may be provided by a plugin that failed to load: plugin 'wordplay' from birdie-wordplay "
        f"(ModuleNotFoundError: No module named '{MISSING}')"
    ) in message
    # the plugin whose names are all known is not a candidate for a name it does not register
    assert "birdie-sentperm" not in message


def test_the_package_is_never_executed_to_read_the_names(site: Path):
    marker = site / "executed"
    init = f"open({str(marker)!r}, 'w').close()\nraise ImportError('the package itself is broken')\n"
    install_plugin(site, "birdie-sentperm", "sentperm", LITERAL_NAMES, package_init=init)
    assert declared_names("birdie_sentperm.plugin") == (
        {"objective": ("sent_perm", "sent_swap"), "tokenizer": ("sentences",)},
        True,
    )
    assert not marker.exists()
    reg = load_registry(allow=["sentperm"])  # loading the plugin does execute it, and fails
    assert marker.exists()
    assert "the package itself is broken" in reg.explain_unknown("objective", "sent_perm")


def test_names_of_a_module_that_cannot_be_found_or_read_are_unknown(site: Path):
    assert declared_names("birdie_no_such_package.plugin") == (None, False)
    assert declared_names("not a module") == (None, False)
    (site / "birdie_syntax").mkdir()
    (site / "birdie_syntax" / "__init__.py").write_text("")
    (site / "birdie_syntax" / "plugin.py").write_text("def broken(:\n")
    assert declared_names("birdie_syntax.plugin") == (None, False)


def test_config_check_reports_the_failed_plugin_for_a_bare_name(site: Path, tmp_path: Path):
    install_plugin(site, "birdie-sentperm", "sentperm", LITERAL_NAMES)
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        (ROOT / "configs" / "quickstart.yaml")
        .read_text()
        .replace("{name: next_token_prediction, id: next_token,", "{name: sent_perm, id: next_token,")
    )
    env = clean_env()
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run(
        [BIRDIE, "config", "check", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "objectives[0].name" in proc.stderr
    assert (
        "unknown objective 'sent_perm': plugin 'sentperm' from birdie-sentperm failed to load: "
        f"ModuleNotFoundError: No module named '{MISSING}'"
    ) in proc.stderr
