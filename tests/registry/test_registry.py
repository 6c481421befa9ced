"""The plugin registry: discovery from real entry points, namespacing, conflicts, broken plugins, switches."""

from __future__ import annotations

import types

import pytest
from pydantic import BaseModel

from birdie_core import Objective, ObjectiveConfig, hookimpl, load_registry
from birdie_core import registry as registry_mod
from birdie_core.errors import PluginError
from birdie_core.kinds import COMPONENT_KINDS
from birdie_core.registry import UnknownNameError


class _Obj(Objective):
    class Config(ObjectiveConfig):
        pass

    def build(self, tokens, budget, ctx):  # pragma: no cover - never called here
        return None, tokens


def _plugin(**hooks):
    """A plugin object whose hooks are the given functions."""
    ns = types.SimpleNamespace()
    for name, fn in hooks.items():
        setattr(ns, name, hookimpl(fn))
    return ns


def test_real_entry_points_are_discovered_with_versions():
    reg = load_registry()
    by_ns = {p.namespace: p for p in reg.plugins}
    assert {"core", "text", "dna", "rewards", "reversal"} <= set(by_ns)
    assert by_ns["reversal"].distribution == "birdie-reversal"
    assert by_ns["reversal"].version == "0.1.0"
    assert by_ns["text"].distribution == "birdie-objectives-text"
    assert "reversal.reverse" in reg.names("objective")
    assert all(p.error is None for p in reg.plugins)


def test_core_builtins_are_registered_by_module_under_core():
    reg = load_registry(autoload=False)
    assert [p.namespace for p in reg.plugins] == ["core"]
    assert {"core.next_token_prediction", "core.prefix_lm"} <= set(reg.names("objective"))
    assert reg.names("packer") == ["core.best_fit"]
    assert reg.names("agent") == ["core.static"]
    assert {"core.bytes", "core.tiktoken"} <= set(reg.names("tokenizer"))


def test_bare_names_resolve_when_unambiguous_and_fail_when_not():
    def reg_a(register):
        register("shared", _Obj)
        register("only_a", _Obj)

    def reg_b(register):
        register("shared", _Obj)

    reg = load_registry(
        autoload=False,
        extra_plugins={
            "a": _plugin(birdie_register_objectives=reg_a),
            "b": _plugin(birdie_register_objectives=reg_b),
        },
    )
    assert reg.resolve("objective", "only_a").qualified_name == "a.only_a"
    assert reg.resolve("objective", "b.shared").namespace == "b"
    with pytest.raises(UnknownNameError, match=r"ambiguous: write one of a\.shared, b\.shared"):
        reg.resolve("objective", "shared")


def test_unknown_names_suggest_and_name_the_distribution_to_install():
    reg = load_registry(autoload=False)
    with pytest.raises(UnknownNameError, match="did you mean 'core.prefix_lm'|did you mean 'prefix_lm'"):
        reg.resolve("objective", "prefix_lmm")
    with pytest.raises(UnknownNameError, match="birdie-objectives-text"):
        reg.resolve("objective", "copying")
    with pytest.raises(UnknownNameError, match="birdie-rewards"):
        reg.resolve("agent", "birdie")
    with pytest.raises(UnknownNameError, match="birdie-objectives-dna"):
        reg.resolve("objective", "dna.reverse_complement")


def test_a_plugin_whose_hook_raises_is_reported_and_others_still_load():
    def boom(register):
        raise RuntimeError("plugin exploded")

    def fine(register):
        register("fine", _Obj)

    reg = load_registry(
        autoload=False,
        extra_plugins={
            "bad": _plugin(birdie_register_objectives=boom),
            "good": _plugin(birdie_register_objectives=fine),
        },
    )
    bad = {p.namespace: p for p in reg.plugins}["bad"]
    assert bad.error and "plugin exploded" in bad.error
    assert "good.fine" in reg.names("objective")
    with pytest.raises(UnknownNameError, match="failed to load: RuntimeError: plugin exploded"):
        reg.resolve("objective", "bad.anything")


def test_misspelt_hook_and_invalid_registrations_are_errors_of_that_plugin_only():
    def birdie_register_objectivs(register):  # misspelt on purpose
        pass

    def no_config(register):
        register("x", object)

    def twice(register):
        register("x", _Obj)
        register("x", _Obj)

    def dotted(register):
        register("a.b", _Obj)

    plugins = {
        "typo": types.SimpleNamespace(birdie_register_objectivs=hookimpl(birdie_register_objectivs)),
        "noconf": _plugin(birdie_register_objectives=no_config),
        "twice": _plugin(birdie_register_objectives=twice),
        "dotted": _plugin(birdie_register_objectives=dotted),
    }
    reg = load_registry(autoload=False, extra_plugins=plugins)
    errors = {p.namespace: p.error for p in reg.plugins}
    assert "unknown hook(s) birdie_register_objectivs" in errors["typo"]
    assert "nested pydantic `Config` model" in errors["noconf"]
    assert "registered twice" in errors["twice"]
    assert "must be an identifier" in errors["dotted"]
    assert errors["core"] is None


def test_registered_objective_must_subclass_the_interface():
    class Loose:
        class Config(BaseModel):
            name: str = "x"

    reg = load_registry(
        autoload=False,
        extra_plugins={"loose": _plugin(birdie_register_objectives=lambda register: register("x", Loose))},
    )
    assert "must subclass birdie_core.Objective" in {p.namespace: p.error for p in reg.plugins}["loose"]


class _FakeDist:
    def __init__(self, name):
        self.metadata = {"Name": name}
        self.version = "9.9"


class _FakeEP:
    def __init__(self, name, value, dist, load):
        self.name, self.value, self.dist, self._load = name, value, _FakeDist(dist), load

    def load(self):
        return self._load()


def _fake_entry_points(monkeypatch, eps):
    monkeypatch.setattr(registry_mod.metadata, "entry_points", lambda group: [e for e in eps])


def test_two_distributions_claiming_one_entry_point_name_is_an_error_naming_both(monkeypatch):
    mod = _plugin(birdie_register_objectives=lambda register: register("o", _Obj))
    _fake_entry_points(
        monkeypatch,
        [
            _FakeEP("clash", "pkg_a.plugin", "pkg-a", lambda: mod),
            _FakeEP("clash", "pkg_b.plugin", "pkg-b", lambda: mod),
        ],
    )
    reg = load_registry()
    info = {p.namespace: p for p in reg.plugins}["clash"]
    assert "pkg-a" in info.error and "pkg-b" in info.error
    assert "clash.o" not in reg.names("objective")


def test_an_entry_point_that_fails_to_import_is_reported_with_its_distribution(monkeypatch):
    def load():
        raise ImportError("No module named 'missing_dep'")

    good = _plugin(birdie_register_objectives=lambda register: register("o", _Obj))
    _fake_entry_points(
        monkeypatch,
        [
            _FakeEP("broken", "broken.plugin", "birdie-broken", load),
            _FakeEP("ok", "ok.plugin", "birdie-ok", lambda: good),
        ],
    )
    reg = load_registry()
    info = {p.namespace: p for p in reg.plugins}["broken"]
    assert info.distribution == "birdie-broken" and "missing_dep" in info.error
    assert "ok.o" in reg.names("objective")
    with pytest.raises(PluginError, match="birdie-broken failed to load"):
        reg.resolve("objective", "broken.o")


def test_environment_switches_disable_allow_and_block(monkeypatch):
    monkeypatch.setenv("BIRDIE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert [p.namespace for p in load_registry().plugins] == ["core"]
    monkeypatch.delenv("BIRDIE_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("BIRDIE_PLUGINS", "reversal")
    assert [p.namespace for p in load_registry().plugins] == ["core", "reversal"]
    monkeypatch.delenv("BIRDIE_PLUGINS")
    monkeypatch.setenv("BIRDIE_BLOCK_PLUGINS", "reversal,dna")
    names = [p.namespace for p in load_registry().plugins]
    assert "reversal" not in names and "dna" not in names and "text" in names


def test_every_hook_is_documented_with_its_signature(root):
    """docs/plugins.md has one section per hook, with the exact signature (kept in step by this test)."""
    import inspect

    from birdie_core import hookspecs

    doc = (root / "docs" / "plugins.md").read_text()
    hooks = [n for n in dir(hookspecs) if n.startswith("birdie_")]
    assert hooks
    for name in hooks:
        sig = inspect.signature(getattr(hookspecs, name))
        params = ", ".join(sig.parameters)
        assert f"### `{name}({params})`" in doc, f"docs/plugins.md lacks a section for {name}({params})"


def test_bare_name_of_a_plugin_that_failed_to_load_says_so(monkeypatch):
    def load():
        raise ImportError("No module named 'scipy'")

    _fake_entry_points(
        monkeypatch, [_FakeEP("text", "birdie_objectives_text.plugin", "birdie-objectives-text", load)]
    )
    reg = load_registry()
    with pytest.raises(UnknownNameError, match="plugin 'text' from birdie-objectives-text failed to load"):
        reg.resolve("objective", "infilling")


def test_trace_hooks_shows_registration_and_observer_calls(monkeypatch, capsys):
    monkeypatch.setenv("BIRDIE_TRACE_HOOKS", "1")
    reg = load_registry(autoload=False)
    reg.notify_evaluation(3, {"ntp": 1.5})
    err = capsys.readouterr().err
    for kind in COMPONENT_KINDS.values():
        if kind.name != "reward":  # the core registers no reward function
            assert f"{kind.hook} [core]" in err
    assert "birdie_on_evaluation" in err and "step: 3" in err


def test_docs_carry_the_table_of_component_kinds(root):
    doc = (root / "docs" / "plugins.md").read_text()
    for kind in COMPONENT_KINDS.values():
        interface = f"`{kind.interface.__name__}`" + (" (subclass)" if kind.subclass_required else "")
        row = f"| {kind.name} | `{kind.hook}` | {interface} | `{kind.config_base.__name__}` | `{kind.constructor}` |"
        assert row in doc, f"docs/plugins.md lacks the row {row}"
