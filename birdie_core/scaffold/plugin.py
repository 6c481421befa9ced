"""Write a new plugin project from the templates of this package.

The project uses a ``src/`` layout, so its tests import the installed package, never the source folder by
accident: what they pass is what a user installs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template

from birdie_core.scaffold.names import PluginNames, ScaffoldError, plugin_names


def _layout(names: PluginNames) -> dict[str, str]:
    """Each file of the project (relative path) and the template it is made from."""
    src = f"src/{names.package}"
    return {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        "LICENSE": "LICENSE.txt",
        ".gitignore": "gitignore.tmpl",
        "MANIFEST.in": "MANIFEST.in.tmpl",
        f"{src}/__init__.py": "package_init.py.tmpl",
        f"{src}/py.typed": "",
        f"{src}/plugin.py": "plugin.py.tmpl",
        f"{src}/objective.py": "objective.py.tmpl",
        f"{src}/reward.py": "reward.py.tmpl",
        "tests/test_objective.py": "test_objective.py.tmpl",
        "tests/test_reward.py": "test_reward.py.tmpl",
        "tests/test_plugin.py": "test_plugin.py.tmpl",
        "examples/pipeline.yaml": "pipeline.yaml.tmpl",
    }


def core_requirement(version: str) -> str:
    """The requirement on birdie-core a new plugin declares: this version or later within its release series
    (below 1.0 a minor release may change the plugin interfaces; from 1.0 on, a major one)."""
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()] + [0, 0]
    major, minor = parts[0], parts[1]
    below = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"birdie-core>={version},<{below}"


def render(names: PluginNames) -> dict[str, str]:
    """The text of every file of the plugin ``names``, by relative path."""
    from birdie_core import __version__

    values = {
        "namespace": names.namespace,
        "distribution": names.distribution,
        "package": names.package,
        "core_version": __version__,
        "core_requirement": core_requirement(__version__),
    }
    templates = resources.files("birdie_core.scaffold") / "templates"
    files = {}
    for path, template in _layout(names).items():
        if not template:
            files[path] = ""
            continue
        text = (templates / template).read_text(encoding="utf-8")
        # the licence is copied as it is; every other template names the plugin
        files[path] = text if template == "LICENSE.txt" else Template(text).substitute(values)
    return files


def write_plugin(name: str, directory: str | Path | None = None, *, force: bool = False) -> list[Path]:
    """Write the plugin project ``name`` into ``directory`` (default: ``./birdie-<name>``); the files written.

    An existing directory must be empty unless ``force``, which replaces the project's files there and leaves
    any other file alone. Raises :class:`ScaffoldError` for an invalid name or a taken directory.
    """
    names = plugin_names(name)
    root = Path(directory) if directory is not None else Path.cwd() / names.distribution
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise ScaffoldError(
            f"{root} is not empty: choose another directory, or pass --force to write the plugin's files "
            "into it (replacing files of the same names)"
        )
    files = render(names)
    written = []
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
