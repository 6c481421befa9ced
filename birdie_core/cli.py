"""The ``birdie`` command line.

Every error Birdie raises on purpose is printed as a message and an exit code: 2 for a usage or config error
(click's own usage errors are 2 as well), 1 for a failure at run time; ``--debug`` (or ``BIRDIE_DEBUG=1``) shows
the traceback instead. Commands that take a config FILE also take a preset's name (:mod:`birdie_core.presets`).
``NO_COLOR`` (https://no-color.org) turns colour off. Plugins add subcommands through
``birdie_register_commands``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import click

from birdie_core.errors import BirdieError, ConfigError


class _BirdieGroup(click.Group):
    """A group that turns Birdie's own errors into clean messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BirdieError as exc:
            if (ctx.obj or {}).get("debug") or os.environ.get("BIRDIE_DEBUG") == "1":
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2 if isinstance(exc, ConfigError) else 1)


@click.group(cls=_BirdieGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.version_option(package_name="birdie-core", prog_name="birdie")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Birdie: multi-objective pre-training batches steered by a reward-driven curriculum.

    Commands that take a config FILE also take the name of a shipped preset (quickstart, ul2, birdie, ...).
    """
    ctx.ensure_object(dict)["debug"] = debug
    if os.environ.get("NO_COLOR"):
        # subcommands' contexts inherit this, and click.echo then strips every style, plugins' included
        ctx.color = False


def _config_file(argument: str) -> str:
    from birdie_core.presets import config_file_or_preset

    return config_file_or_preset(argument)


def _registry():
    from birdie_core.registry import default_registry

    return default_registry()


# ---------------------------------------------------------------------------------------------------------
# birdie plugins
# ---------------------------------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def plugins(as_json: bool) -> None:
    """List every plugin (distribution, version, namespace) and what it registered."""
    reg = _registry()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in reg.plugins], indent=2))
        return
    rows = [("NAMESPACE", "DISTRIBUTION", "VERSION", "REGISTERED")]
    for p in reg.plugins:
        if p.error:
            what = click.style(f"FAILED TO LOAD: {p.error.splitlines()[-1]}", fg="red")
        elif p.registered:
            what = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in p.registered.items())
        else:
            what = "(hooks: " + (", ".join(p.hooks) or "none") + ")"
        rows.append((p.namespace, p.distribution or p.module, p.version or "-", what))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])


# ---------------------------------------------------------------------------------------------------------
# birdie config ...
# ---------------------------------------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Validate configurations and print their schema."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--resolved", is_flag=True, help="Also print the fully resolved configuration.")
def config_check(file: str, resolved: bool) -> None:
    """Validate FILE; report every problem at once with its path and line.

    Then build what a run builds before its first batch (sources, tokenizer, agent, reward) and size its
    batches against this machine's memory: data files that match nothing, unreadable vocabularies and
    missing packages are reported too.
    """
    from birdie_core.config import check_config, resolved_config

    cfg = check_config(_config_file(file), registry=_registry()).config
    n = len(cfg.objectives)
    click.echo(f"{file}: OK ({n} objective configuration{'s' if n != 1 else ''})")
    if resolved:
        import yaml

        click.echo(yaml.safe_dump(resolved_config(cfg), sort_keys=False))


@config.command("schema")
def config_schema_cmd() -> None:
    """Print the JSON schema of pipeline configs for the installed plugins."""
    from birdie_core.config import config_schema

    click.echo(json.dumps(config_schema(_registry()), indent=2))


# ---------------------------------------------------------------------------------------------------------
# birdie preview
# ---------------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option(
    "-n", "--per-objective", default=1, show_default=True, help="Examples per objective configuration."
)
@click.option(
    "--width", default=400, show_default=True, help="Cut each prefix/target to this many characters."
)
def preview(config_file: str, per_objective: int, width: int) -> None:
    """Show decoded examples of every objective (prefix and target marked) and the packing efficiency."""
    from birdie_core.config import load_config
    from birdie_core.pipeline import preview as make_preview

    reg = _registry()
    cfg = load_config(_config_file(config_file), registry=reg)
    result = make_preview(cfg, registry=reg, per_objective=per_objective)

    def show(label: str, text: str, fg: str) -> str:
        # click.echo strips the styles again when stdout is not a terminal or NO_COLOR is set
        text = text if len(text) <= width else text[:width] + f"… (+{len(text) - width} chars)"
        text = text.replace("\n", "↵")  # one line per prefix/target, newlines still visible
        return click.style(f"{label} │ ", fg=fg, bold=True) + click.style(text, fg=fg)

    for item in result.items:
        click.echo(f"── {item.arm}  ({item.objective}, document {item.document})")
        click.echo(show("PREFIX", item.prefix, "cyan"))
        click.echo(show("TARGET", item.target, "yellow"))
        click.echo(
            f"         {len(item.prefix_ids)} prefix + {len(item.target_ids)} target tokens, "
            f"{item.consumed} document tokens used, {item.length} positions"
        )
    rows, cols = result.batch.input_ids.shape
    segments = int(result.batch.segment_ids.max(axis=1).sum())
    click.echo(
        f"\nfirst batch {rows}×{cols}: {segments} examples, packing efficiency {result.efficiency:.2%}"
    )


# ---------------------------------------------------------------------------------------------------------
# birdie tokenize
# ---------------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--output", required=True, metavar="DIR", help="The directory to write the shards into.")
@click.option(
    "--split",
    type=click.Choice(["train", "validation"]),
    default="train",
    show_default=True,
    help="Which source.",
)
@click.option("--domain", metavar="ID", help="Which source, when the split lists several (data domains).")
@click.option(
    "--processes", type=click.IntRange(min=1), help="Processes that encode (default: the CPUs available)."
)
@click.option(
    "--shard-tokens",
    type=click.IntRange(min=1),
    default=100_000_000,
    show_default=True,
    help="Start a new shard once one holds this many tokens.",
)
@click.option("--overwrite", is_flag=True, help="Replace pre-tokenized data already in DIR.")
def tokenize(
    config_file: str,
    output: str,
    split: str,
    domain: str | None,
    processes: int | None,
    shard_tokens: int,
    overwrite: bool,
) -> None:
    """Write CONFIG_FILE's source as token ids in memory-mappable shards, for the `tokenized` source.

    Documents keep the source's order; the header names the tokenizer, which a pipeline reading the data must
    use. Ctrl-C stops every process and removes what was written.
    """
    from birdie_core.pretokenized import tokenize_split

    stopped_by = [int(signal.SIGINT)]

    def stop(signum: int, frame: Any) -> None:
        stopped_by[0] = signum
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)  # a scheduler's stop cleans up like Ctrl-C
    try:
        result = tokenize_split(
            _config_file(config_file),
            output,
            split=split,
            domain=domain,
            processes=processes,
            shard_tokens=shard_tokens,
            overwrite=overwrite,
            registry=_registry(),
            progress=sys.stderr,
        )
    except KeyboardInterrupt:
        click.echo(f"interrupted: the partial output in {output} was removed", err=True)
        sys.exit(128 + stopped_by[0])  # what a shell reports for a process the signal ended
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(
        f"{result.directory}: {result.documents:,} documents, {result.tokens:,} tokens ({result.dtype}) in "
        f"{result.shards} shard{'s' if result.shards != 1 else ''}, {result.seconds:.1f} s"
    )


# ---------------------------------------------------------------------------------------------------------
# birdie train / birdie plot
# ---------------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--resume", "resume", metavar="RUN_DIR", help="Continue this run from its newest checkpoint.")
@click.option(
    "--max-steps", type=click.IntRange(min=1), help="Stop after N steps (the schedule still plans for all)."
)
@click.option("--output", metavar="DIR", help="The run directory (default: train.output of the config).")
@click.option("--overwrite", is_flag=True, help="Delete an existing run in the run directory first.")
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "lines", "none"]),
    default="auto",
    show_default=True,
    envvar="BIRDIE_PROGRESS",
    help="Per-step progress: a bar, a line every train.log_every steps, or none; auto: a bar when stdout is a "
    "terminal, lines otherwise (a log file, CI). Also BIRDIE_PROGRESS.",
)
def train(
    config_file: str,
    resume: str | None,
    max_steps: int | None,
    output: str | None,
    overwrite: bool,
    progress: str,
) -> None:
    """Train the reference prefix-LM model on CONFIG_FILE's batches, with the curriculum steering them.

    Works under `torchrun` and `accelerate launch -m birdie_core.cli train ...` for several processes.
    SIGTERM, SIGINT or SIGUSR1 finish the current step, write a checkpoint and exit with 128 + the signal's
    number (143, 130, 138); a second Ctrl-C stops at once.
    """
    if "torch" not in sys.modules and os.environ.get("RANK", "0") == "0":  # a launcher's other ranks: quiet
        click.echo("loading torch…")  # seconds, before the config can even be read
    from birdie_core.train.loop import train as run_training

    result = run_training(
        _config_file(config_file),
        resume=resume,
        max_steps=max_steps,
        output=output,
        overwrite=overwrite,
        registry=_registry(),
        echo=click.echo,
        progress=progress,
    )
    if result.plots:
        click.echo("plots: " + ", ".join(str(p) for p in result.plots))
    if result.stopped_by is not None:
        # 128 + the signal's number: what a shell reports for a process the signal ended, which is what
        # schedulers expect; the checkpoint is written, so `--resume` continues exactly
        sys.exit(128 + int(signal.Signals[result.stopped_by]))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def plot(run_dir: str) -> None:
    """Redraw the PNG plots of RUN_DIR (mixture, validation losses, training loss)."""
    from birdie_core.train.plots_extra import require_plots

    require_plots()
    from birdie_core.train.plots import plot_run

    for path in plot_run(run_dir):
        click.echo(str(path))


@cli.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--task",
    "task_name",
    required=True,
    metavar="NAME",
    help="The task (phonebook, associative_recall, ...).",
)
@click.option("--n", "n", type=click.IntRange(min=1), default=64, show_default=True, help="Instances scored.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the instances."
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Rows per model call."
)
@click.option("--paradigm", metavar="MARKER", help="A paradigm marker put before every prompt.")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter of the task (YAML value).",
)
@click.option("--device", metavar="DEVICE", help="Where the model runs (default: the GPU when there is one).")
@click.option("--details", is_flag=True, help="Also show every instance's answer and what the model gave.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def eval_command(
    run_dir: str,
    task_name: str,
    n: int,
    seed: int,
    batch_size: int,
    paradigm: str | None,
    params: tuple[str, ...],
    device: str | None,
    details: bool,
    as_json: bool,
) -> None:
    """Score the newest checkpoint of RUN_DIR (a `birdie train` run) on an evaluation task (docs/evals.md).

    The model, tokenizer and start marker are the run's; the checkpoint is checked against its manifest and
    only its model weights are read.
    """
    from birdie_core.evals import make_task
    from birdie_core.evals.tasks import EvalError

    options = _key_values(params)
    try:
        make_task(task_name, options)  # a wrong name or parameter is reported before the model is loaded
    except EvalError as exc:
        raise click.UsageError(str(exc)) from None

    import torch

    from birdie_core.evals import evaluate
    from birdie_core.train.evaluation import load_trained_model, marker_problems

    model, components = load_trained_model(run_dir, _registry())
    cfg = components.config
    tokenizer = components.tokenizer()
    problems = marker_problems(
        task_name, options, tokenizer, start_marker=cfg.start_generating_paradigm, paradigm=paradigm
    )
    if problems:
        raise EvalError(f"cannot score {task_name!r} on {run_dir}: " + "; ".join(problems))
    where = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    result = evaluate(
        model.to(where).logits,
        tokenizer,
        task_name,
        n=n,
        seed=seed,
        batch_size=batch_size,
        sequence_length=cfg.sequence_length,
        start_marker=cfg.start_generating_paradigm,
        paradigm=paradigm,
        device=where,
        details=details,
        config=options,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(details=details), indent=2))
        return
    click.echo(str(result))
    for r in result.details or ():
        chosen = f"  (candidate {r.chosen})" if r.chosen >= 0 else ""
        click.echo(f"  {r.index:>4}  {r.score:.3f}  gave {r.predicted!r}  answer {r.answer!r}{chosen}")


# ---------------------------------------------------------------------------------------------------------
# birdie bench
# ---------------------------------------------------------------------------------------------------------


@cli.group()
def bench() -> None:
    """Measure the speed of installed components."""


@bench.command("objective")
@click.argument("name")
@click.option(
    "--length",
    default=512,
    show_default=True,
    type=click.IntRange(min=2),
    help="Budget: positions per example.",
)
@click.option(
    "--documents", default=64, show_default=True, type=click.IntRange(min=1), help="Documents of the corpus."
)
@click.option(
    "--tokenizer",
    "tokenizer_spec",
    default="bytes",
    show_default=True,
    metavar="SPEC",
    help="A tokenizer name, or its entry as YAML: '{name: huggingface, path: tokenizer.json}'.",
)
@click.option(
    "--against",
    multiple=True,
    metavar="NAME",
    help="Objectives to compare with (repeatable); 'core' (default): the core's, 'all': every installed one.",
)
@click.option(
    "--param", "-p", "params", multiple=True, metavar="KEY=VALUE", help="A parameter of NAME (YAML value)."
)
@click.option(
    "--seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Measuring time per objective.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def bench_objective(
    name: str,
    length: int,
    documents: int,
    tokenizer_spec: str,
    against: tuple[str, ...],
    params: tuple[str, ...],
    seconds: float,
    as_json: bool,
) -> None:
    """Examples/s and µs per example of objective NAME beside the core's, on the embedded corpus.

    Each document is tokenized once beforehand; only the objective's `build` is timed, taking examples from
    each document with a budget of --length positions until it is used up, as the pipeline does.
    """
    from birdie_core.tools.bench_objective import bench_cli_names, bench_objectives, parse_cli_spec

    reg = _registry()
    names, params_of = bench_cli_names(reg, name, against, _key_values(params))
    report = bench_objectives(
        names,
        reg,
        tokenizer=parse_cli_spec(tokenizer_spec),
        length=length,
        documents=documents,
        seconds=seconds,
        params=params_of,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(
        f"{report.documents} documents of the embedded corpus ({report.document_tokens:,} tokens, "
        f"{report.tokenizer}), budget {report.length} positions, {report.seconds:g} s per objective, one process"
    )
    click.echo(report.table(highlight=names[0]))


# ---------------------------------------------------------------------------------------------------------
# birdie new
# ---------------------------------------------------------------------------------------------------------


@cli.group()
def new() -> None:
    """Start a new project from a template."""


@new.command("plugin")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Where to write the project (default: ./birdie-NAME).",
)
@click.option(
    "--force", is_flag=True, help="Write into DIR even if it is not empty (same-named files replaced)."
)
def new_plugin(name: str, directory: str | None, force: bool) -> None:
    """Write a publishable plugin NAME ('sentperm' or 'birdie-sentperm'): its package, tests, licence, README.

    The plugin registers a working objective and reward function under the namespace NAME, and its tests
    (Birdie's conformance suites) pass as written: `pip install -e '.[test]' && python -m pytest` in DIR.
    """
    from birdie_core.scaffold import ScaffoldError, plugin_names, write_plugin

    try:
        names = plugin_names(name)
        written = write_plugin(name, directory, force=force)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    root = os.path.commonpath([str(p) for p in written])
    click.echo(f"wrote {names.distribution} ({len(written)} files) to {root}")
    click.echo(f"  namespace {names.namespace}: {names.namespace}.rotation (objective), ", nl=False)
    click.echo(f"{names.namespace}.relative_drop (reward); import package {names.package}")
    click.echo(f"next: cd {root} && pip install -e '.[test]' && python -m pytest")


# ---------------------------------------------------------------------------------------------------------


def _key_values(params: tuple[str, ...]) -> dict[str, Any]:
    """The ``--param KEY=VALUE`` options of a command, each value read as YAML (``4``, ``true``, ``[1, 2]``)."""
    import yaml

    options: dict[str, Any] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--param {item!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise click.UsageError(f"--param {item!r}: the value is not YAML ({exc})") from None
    return options


def _add_plugin_commands() -> None:
    """Let plugins add subcommands; a plugin whose hook fails is reported, the CLI still works."""
    try:
        reg = _registry()
    except BirdieError as exc:  # pragma: no cover - the registry itself reports broken plugins
        click.echo(f"warning: {exc}", err=True)
        return
    if reg.manager is None:
        return
    for impl in reg.manager.hook.birdie_register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a broken plugin must not take the CLI down
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add commands: {exc}", err=True)


def main(argv: list[str] | None = None) -> None:
    _add_plugin_commands()
    cli.main(args=argv, prog_name="birdie")


if (
    __name__ == "__main__"
):  # `python -m birdie_core.cli` (`accelerate launch -m birdie_core.cli`); see __main__.py
    main()
