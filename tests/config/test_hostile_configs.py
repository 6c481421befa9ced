"""Config files as untrusted input: hostile and careless files end in one clear ConfigError, never a hang.

Every in-process check runs under a time limit and every command under a subprocess timeout, so a regression
(an alias walk without a bound, a parser stuck on a huge file) fails here instead of hanging the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from birdie_core.config import (
    MAX_ALIAS_VALUES,
    MAX_CONFIG_BYTES,
    MAX_NESTING,
    check_config,
    load_config,
    load_yaml_with_lines,
    memory_problems,
)
from birdie_core.config.models import MAX_PREFETCH_FACTOR, MAX_WORKERS
from birdie_core.config.preflight import BYTES_PER_POSITION, batches_held, missing_package_message
from birdie_core.errors import ConfigError
from birdie_core.hookspecs import hookimpl
from birdie_core.interfaces import Agent, SourceConfig, TokenizerConfig
from birdie_core.registry import load_registry
from birdie_core.testing import time_limit

BIRDIE = shutil.which("birdie", path=str(Path(sys.executable).parent)) or "birdie"

BILLION_LAUGHS = textwrap.dedent(
    """\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """
)


@pytest.fixture(scope="module")
def core():
    return load_registry(autoload=False)


def write(tmp_path: Path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def issues_of(call, *args, **kwargs) -> list:
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return info.value.issues


def only_issue(call, *args, **kwargs):
    issues = issues_of(call, *args, **kwargs)
    assert len(issues) == 1, [i.render() for i in issues]
    return issues[0]


# ---------------------------------------------------------------------------------------------------------
# Aliases, nesting
# ---------------------------------------------------------------------------------------------------------


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_cap(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    with time_limit(5, "loading a billion-laughs file"):
        issue = only_issue(load_yaml_with_lines, path)
    # a: 10 values, b: 91, c: 820, d: 7,381, e: 66,430; the first *e brings the running total past 100,000
    assert (issue.path, issue.line, issue.column, issue.source) == ("f[0]", 6, 8, str(path))
    assert f"beyond {MAX_ALIAS_VALUES:,} values" in issue.message and "*e" in issue.message


def test_aliases_are_counted_exactly_up_to_the_cap(tmp_path):
    # an anchored list of 99 items is 100 values; 1,000 aliases to it add exactly MAX_ALIAS_VALUES
    assert MAX_ALIAS_VALUES == 100 * 1000
    head = "a: &a [" + ",".join(["0"] * 99) + "]\nb: ["
    at_cap = write(tmp_path, head + ",".join(["*a"] * 1000) + "]\n", "at_cap.yaml")
    over = write(tmp_path, head + ",".join(["*a"] * 1001) + "]\n", "over.yaml")
    with time_limit(10, "loading files at the alias cap"):
        data, _ = load_yaml_with_lines(at_cap)
        issue = only_issue(load_yaml_with_lines, over)
    assert len(data["b"]) == 1000 and data["b"][999] is data["a"]  # shared, as yaml.safe_load builds it
    assert (issue.path, issue.line) == ("b[1000]", 2)


def test_anchors_aliases_and_merge_keys_still_work_in_a_normal_config(tmp_path, core):
    path = write(
        tmp_path,
        textwrap.dedent(
            """\
            sequence_length: 256
            objectives:
              - &ntp {name: next_token_prediction, prob: 0.5, length: [16, 64]}
              - {<<: *ntp, id: long, length: [64, 128]}
              - *ntp
              - {name: prefix_lm, prob: 0.2}
            """
        ),
    )
    cfg = load_config(path, core)
    assert [(o.id, o.prob, o.length) for o in cfg.objectives[:3]] == [
        ("next_token_prediction#1", 0.5, (16, 64)),
        ("long", 0.5, (64, 128)),
        ("next_token_prediction#2", 0.5, (16, 64)),
    ]
    # an error inside an aliased entry points at the alias's own place in the list
    bad = write(tmp_path, "objectives:\n  - &x {name: next_token_prediction, prob: -1}\n  - *x\n", "bad.yaml")
    issues = issues_of(load_config, bad, core)
    assert [(i.path, i.line) for i in issues] == [("objectives[0].prob", 2), ("objectives[1].prob", 2)]


def test_a_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "seed: 0\nobjectives: &o [{name: prefix_lm}, *o]\n")
    with time_limit(5, "loading a recursive alias"):
        issue = only_issue(load_yaml_with_lines, path)
    assert (issue.path, issue.line, issue.column) == ("objectives[1]", 2, 36)
    assert "alias *o refers to a node that contains it" in issue.message


def test_nesting_is_bounded_as_written_and_through_aliases(tmp_path):
    written = write(tmp_path, "a: " + "[" * 100 + "]" * 100 + "\n", "written.yaml")
    chained = "".join(f"l{i}: &l{i} [*l{i - 1}]\n" if i else "l0: &l0 [1]\n" for i in range(MAX_NESTING + 5))
    aliased = write(tmp_path, chained, "aliased.yaml")
    with time_limit(5, "loading deeply nested files"):
        first = only_issue(load_yaml_with_lines, written)
        second = only_issue(load_yaml_with_lines, aliased)
    assert first.line == 1 and f"nested more than {MAX_NESTING} levels" in first.message
    # the list l0 and its item are 2 levels and each alias adds one: l{MAX_NESTING - 1} is the first too deep
    assert (second.path, second.line) == (f"l{MAX_NESTING - 1}", MAX_NESTING)


# ---------------------------------------------------------------------------------------------------------
# Characters, encoding, size, empty files
# ---------------------------------------------------------------------------------------------------------


def test_control_characters_are_reported_with_their_line_and_column(tmp_path):
    path = write(tmp_path, b"seed: 0\x00\nbatch_size: 8\x07\n# \x1b[31m\nsequence_length: 512\x7f\n")
    issues = issues_of(load_yaml_with_lines, path)
    assert [(i.line, i.column) for i in issues] == [(1, 8), (2, 14), (3, 3), (4, 21)]
    names = ["U+0000 (NUL)", "U+0007 (BEL)", "U+001B (ESC)", "U+007F (DEL)"]
    assert all(name in i.message and "control character" in i.message for name, i in zip(names, issues))
    assert issues[0].render().startswith(f"{path}:1:8: ")


def test_many_control_characters_are_summed_up(tmp_path):
    path = write(tmp_path, b"seed: 0\n" + b"\x01" * 20 + b"\n")
    issues = issues_of(load_yaml_with_lines, path)
    assert [i.column for i in issues[:5]] == [1, 2, 3, 4, 5] and len(issues) == 6
    assert issues[-1].message == "… and 15 more control characters"


def test_escaped_control_characters_in_a_quoted_string_are_fine(tmp_path, core):
    path = write(tmp_path, 'start_generating_paradigm: "\\x01gen\\t"\n')
    assert load_config(path, core).start_generating_paradigm == "\x01gen\t"


def test_bytes_that_are_not_utf8_are_reported_with_their_line(tmp_path):
    path = write(tmp_path, "seed: 0\nstart_generating_paradigm: é\xff\n".encode("latin-1"))
    issue = only_issue(load_yaml_with_lines, path)
    assert (issue.line, issue.column) == (2, 28)
    assert "not UTF-8" in issue.message and "0xe9" in issue.message


def paths_config(path: Path, size: int) -> Path:
    """A careless config listing its data files one by one, ``size`` bytes or just under."""
    head = "data:\n  train:\n    name: files\n    paths:\n"
    line = "      - data/shards/part-{:08d}.jsonl.gz\n"
    with path.open("w") as f:
        f.write(head)
        f.writelines(line.format(i) for i in range((size - len(head)) // len(line.format(0))))
    return path


@pytest.fixture(scope="module")
def fifty_mb(tmp_path_factory) -> Path:
    path = paths_config(tmp_path_factory.mktemp("huge") / "huge.yaml", 50 * 2**20 + 100)
    assert path.stat().st_size > 50 * 2**20
    return path


def test_a_huge_file_is_refused_by_its_size_without_being_parsed(fifty_mb):
    with time_limit(5, "refusing a 50-MB file"):
        issue = only_issue(load_yaml_with_lines, fifty_mb)
    assert issue.path == "" and issue.source == str(fifty_mb)
    assert "at most 1 MiB and this one is 50.0 MiB" in issue.message and "glob pattern" in issue.message


def test_the_size_limit_is_exact_and_a_stream_is_read_only_up_to_it(tmp_path):
    head = b"seed: 0\n#"
    at_limit = write(tmp_path, head + b"x" * (MAX_CONFIG_BYTES - len(head) - 1) + b"\n", "at_limit.yaml")
    over = write(tmp_path, head + b"x" * (MAX_CONFIG_BYTES - len(head)) + b"\n", "over.yaml")
    assert at_limit.stat().st_size == MAX_CONFIG_BYTES
    with time_limit(60, "loading a file at the size limit"):
        assert load_yaml_with_lines(at_limit)[0] == {"seed": 0}
        assert "at most 1 MiB" in only_issue(load_yaml_with_lines, over).message
        # an endless stream: only MAX_CONFIG_BYTES + 1 bytes are read, and it has no size to show
        assert "holds more than that" in only_issue(load_yaml_with_lines, "/dev/zero").message


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_peak_memory_of_a_huge_file_and_of_the_largest_allowed_one(tmp_path, fifty_mb):
    """A fresh process: before the size limit, the 50-MB file took 2 minutes and 1.3 GB here."""
    largest = paths_config(tmp_path / "largest.yaml", MAX_CONFIG_BYTES)
    assert MAX_CONFIG_BYTES - 100 < largest.stat().st_size <= MAX_CONFIG_BYTES
    # VmHWM, not ru_maxrss, which keeps the high-water mark of the forked pytest process across exec
    code = textwrap.dedent(
        """\
        import re, sys
        from birdie_core.config import load_yaml_with_lines
        from birdie_core.errors import ConfigError

        def peak():
            return re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)

        try:
            load_yaml_with_lines(sys.argv[1])
        except ConfigError:
            print(peak())
        data, _ = load_yaml_with_lines(sys.argv[2])
        print(len(data["data"]["train"]["paths"]), peak())
        """
    )
    command = [sys.executable, "-c", code, str(fifty_mb), str(largest)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    refused, loaded = proc.stdout.splitlines()
    count, peak_kib = map(int, loaded.split())
    assert count > 20_000
    assert int(refused) < 100 * 1024, f"peak RSS after refusing 50 MB: {int(refused) / 1024:.0f} MiB"
    assert peak_kib < 250 * 1024, (
        f"peak RSS after loading {MAX_CONFIG_BYTES} bytes: {peak_kib / 1024:.0f} MiB"
    )


@pytest.mark.parametrize("text", ["", "# only a comment\n\n", "null\n", "---\n"])
def test_an_empty_file_is_refused(tmp_path, core, text):
    path = write(tmp_path, text)
    issue = only_issue(load_config, path, core)
    assert issue.source == str(path) and "holds no configuration" in issue.message and "{}" in issue.message


def test_an_explicit_empty_mapping_still_means_every_default(tmp_path, core):
    assert load_config(write(tmp_path, "{}\n"), core) == load_config({}, core)


def test_values_yaml_cannot_convert_are_config_errors(tmp_path):
    path = write(tmp_path, "seed: 0\ncreated: 2001-13-45\n")
    issue = only_issue(load_yaml_with_lines, path)
    assert (issue.line, issue.column) == (2, 10) and "month must be in 1..12" in issue.message


# ---------------------------------------------------------------------------------------------------------
# Strict types, finite numbers, bounds
# ---------------------------------------------------------------------------------------------------------


def test_booleans_and_floats_are_not_integers(tmp_path, core):
    path = write(
        tmp_path,
        textwrap.dedent(
            """\
            batch_size: true
            sequence_length: 1.0e+11
            seed: 3.5
            objectives:
              - {name: next_token_prediction, length: [yes, 8]}
            curriculum: {num_steps: 10.0}
            workers: {prefetch_factor: on}
            train: {model: {width: 64.0}, steps: false}
            """
        ),
    )
    issues = {i.path: i for i in issues_of(load_config, path, core)}
    assert {p: i.line for p, i in issues.items()} == {
        "batch_size": 1,
        "sequence_length": 2,
        "seed": 3,
        "objectives[0].length[0]": 5,
        "curriculum.num_steps": 6,
        "workers.prefetch_factor": 7,
        "train.model.width": 8,
        "train.steps": 8,
    }
    assert issues["batch_size"].message.startswith("expected an integer, got the boolean true")
    assert issues["sequence_length"].message == (
        "expected an integer, got the number 100000000000.0 (write an integer without a decimal point or "
        "exponent)"
    )
    assert issues["seed"].message == "expected an integer, got the number 3.5"


def test_a_python_dict_is_held_to_the_same_types(core):
    issues = {i.path: i.message for i in issues_of(load_config, {"batch_size": 1e12, "seed": True}, core)}
    assert issues == {
        "batch_size": (
            "expected an integer, got the number 1000000000000.0 (write an integer without a decimal point "
            "or exponent)"
        ),
        "seed": (
            "expected an integer, got the boolean true (YAML reads true/false, yes/no and on/off as booleans)"
        ),
    }
    # what was accepted before stays accepted: integers, numpy integers, integers written as strings
    import numpy as np

    cfg = load_config({"batch_size": np.int64(4), "sequence_length": "128"}, core)
    assert (cfg.batch_size, cfg.sequence_length) == (4, 128)


def test_probabilities_and_trainer_numbers_must_be_finite(tmp_path, core):
    path = write(
        tmp_path,
        textwrap.dedent(
            """\
            objectives:
              - {name: next_token_prediction, prob: .inf}
              - {name: prefix_lm, prob: .nan, paradigm_at_end: true}
            train:
              optimizer: {lr: .inf, weight_decay: .nan, grad_clip: .inf, betas: [0.9, true]}
            """
        ),
    )
    issues = {i.path: (i.line, i.message) for i in issues_of(load_config, path, core)}
    assert issues == {
        "objectives[0].prob": (2, "expected a finite number, got inf"),
        "objectives[1].prob": (3, "expected a finite number, got nan"),
        "objectives[1].paradigm_at_end": (3, "expected a number, got the boolean true"),
        "train.optimizer.lr": (5, "expected a finite number, got inf"),
        "train.optimizer.weight_decay": (5, "expected a finite number, got nan"),
        "train.optimizer.grad_clip": (5, "expected a finite number, got inf"),
        "train.optimizer.betas[1]": (5, "expected a number, got the boolean true"),
    }
    # an infinite prob written as a string is refused too, and an integer prob is still a number
    assert (
        "finite"
        in only_issue(load_config, {"objectives": [{"name": "prefix_lm", "prob": "inf"}]}, core).message
    )
    assert load_config({"objectives": [{"name": "prefix_lm", "prob": 2}]}, core).objectives[0].prob == 2.0


def test_workers_and_prefetch_have_upper_bounds(tmp_path, core):
    at_bounds = {"workers": {"num_workers": MAX_WORKERS, "prefetch_factor": MAX_PREFETCH_FACTOR}}
    assert load_config(at_bounds, core).workers.num_workers == MAX_WORKERS
    path = write(tmp_path, f"workers:\n  num_workers: {MAX_WORKERS + 1}\n  prefetch_factor: 1000\n")
    issues = {i.path: (i.line, i.message) for i in issues_of(load_config, path, core)}
    assert issues == {
        "workers.num_workers": (
            2,
            f"Input should be less than or equal to {MAX_WORKERS} (got {MAX_WORKERS + 1})",
        ),
        "workers.prefetch_factor": (
            3,
            f"Input should be less than or equal to {MAX_PREFETCH_FACTOR} (got 1000)",
        ),
    }


# ---------------------------------------------------------------------------------------------------------
# What a run would hit before its first batch
# ---------------------------------------------------------------------------------------------------------


def test_a_batch_larger_than_memory_names_both_fields(tmp_path, core):
    path = write(tmp_path, "sequence_length: 100000000000\n")
    cfg = load_config(path, core)
    _, lines = load_yaml_with_lines(path)
    [(where, message)] = memory_problems(cfg, lines, available=64 * 2**30)
    assert where == ("sequence_length",)  # batch_size is not in the file: the problem is shown where it is
    assert message.startswith(
        "batch_size × sequence_length = 8 × 100,000,000,000 = 800,000,000,000 positions: one batch needs "
        "43.7 TiB (60 bytes per position), more than the 64.0 GiB of memory available on this machine"
    )


def test_batches_held_by_workers_and_validation_count_too(core):
    cfg = load_config(
        {
            "batch_size": 64,
            "sequence_length": 4096,
            "workers": {"num_workers": 8, "prefetch_factor": 4},
            "objectives": [{"name": "next_token_prediction"}, {"name": "prefix_lm"}],
            "curriculum": {"num_validation_batches": 3},
        },
        core,
    )
    held = batches_held(cfg)
    assert held == 1 + 8 * (4 + 1) + 3 * 2
    one_batch = 64 * 4096 * BYTES_PER_POSITION
    assert memory_problems(cfg, available=one_batch * held) == []
    [(where, message)] = memory_problems(cfg, available=one_batch * held - 1)
    assert where == ("batch_size",)
    assert f"{held:,} batches held at once" in message and "8 × 5 in the workers" in message
    assert "workers.num_workers" in message


class NeedsRewardAgent(Agent):
    needs_reward = True

    def decide(self, step, losses, rewards):  # pragma: no cover - built, never asked
        raise NotImplementedError


class SentencePieceTokenizer:
    class Config(TokenizerConfig):
        model_file: str = "spm.model"

    def __init__(self, config, specials):
        import sentencepiece_not_installed  # noqa: F401 - what an optional dependency does when missing


class BrokenSource:
    Config = SourceConfig

    def __init__(self, config):
        raise RuntimeError("index out of date")


class CarelessPlugin:
    @hookimpl
    def birdie_register_agents(self, register):
        register("greedy", NeedsRewardAgent)

    @hookimpl
    def birdie_register_tokenizers(self, register):
        register("spm", SentencePieceTokenizer)

    @hookimpl
    def birdie_register_sources(self, register):
        register("broken", BrokenSource)


def test_check_config_reports_every_build_problem_at_once_with_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "present.txt").write_text("a document\n")
    path = write(
        tmp_path,
        textwrap.dedent(
            """\
            tokenizer: {name: tiktoken, encoding: cl100k_base, vocab_file: vocab/cl100k_base.tiktoken}
            data:
              train:
                name: files
                paths: [present.txt, missing.txt, "shards/*.jsonl.gz"]
              validation: {name: callable, function: "no_such_module_for_birdie:documents"}
            curriculum:
              agent: {name: greedy}
            """
        ),
    )
    registry = load_registry(autoload=False, extra_plugins={"careless": CarelessPlugin()})
    with time_limit(30, "checking a config"):
        issues = issues_of(check_config, path, registry)
    where = {i.path: i.line for i in issues}
    assert where == {
        "tokenizer.vocab_file": 1,
        "data.train.paths[1]": 5,
        "data.train.paths[2]": 5,
        "data.validation.function": 6,
        "curriculum.reward": 7,
    }, [i.render() for i in issues]
    text = "\n".join(i.message for i in issues)
    assert "vocab/cl100k_base.tiktoken" in text and "missing.txt" in text and "shards/*.jsonl.gz" in text
    assert "no_such_module_for_birdie" in text and "learns from rewards" in text
    assert all(i.source == str(path) for i in issues)


def test_missing_packages_and_broken_components_are_issues_not_tracebacks(tmp_path):
    path = write(tmp_path, "tokenizer: {name: spm}\ndata:\n  train: {name: broken}\n  validation: null\n")
    registry = load_registry(autoload=False, extra_plugins={"careless": CarelessPlugin()})
    issues = {i.path: (i.line, i.message) for i in issues_of(check_config, path, registry)}
    assert issues == {
        "tokenizer": (
            1,
            (
                "needs the Python module 'sentencepiece_not_installed', which is not installed: pip install "
                "sentencepiece_not_installed (or the package that provides the module "
                "'sentencepiece_not_installed')"
            ),
        ),
        "data.train": (3, "building the source failed: RuntimeError: index out of date"),
    }


def test_a_missing_module_is_matched_to_the_extra_that_installs_it():
    # birdie-core's `typecheck` extra requires mypy; birdie-rewards' `plot` extra requires matplotlib
    message = missing_package_message(
        ModuleNotFoundError("No module named 'mypy'", name="mypy"), "birdie-core"
    )
    assert message == (
        "needs the Python module 'mypy', which is not installed (birdie-core): "
        "pip install 'birdie-core[typecheck]'"
    )
    sub = ModuleNotFoundError("No module named 'matplotlib.pyplot'", name="matplotlib.pyplot")
    assert missing_package_message(sub, "birdie-rewards").endswith("pip install 'birdie-rewards[plot]'")


def test_a_good_config_passes_every_check_and_returns_its_components(tmp_path, core, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs.jsonl").write_text('{"text": "a document"}\n')
    path = write(tmp_path, "data:\n  train: {name: files, paths: [docs.jsonl]}\n")
    components = check_config(path, core)
    assert components.config.data.train.name == "core.files"
    assert components.source("train").files == [("docs.jsonl", "jsonl")]


# ---------------------------------------------------------------------------------------------------------
# The same through `birdie config check`, a real process
# ---------------------------------------------------------------------------------------------------------


def birdie_check(path: Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
    command = [BIRDIE, "config", "check", path.name]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
    )


def _huge(path: Path) -> None:
    with path.open("w") as f:
        f.write("seed: 0\nsequence_length: 512\n")
        f.write("# padding\n" * (6 * 2**20 // 10))


CLI_CASES = {
    "billion_laughs": (
        BILLION_LAUGHS,
        ["laughs.yaml:6:8: f[0]: aliases expand this document beyond 100,000"],
    ),
    "control_characters": (
        "seed: 0\nbatch_size: 8\x00\n",
        ["control_characters.yaml:2:14: <root>: control character U+0000 (NUL) is not allowed"],
    ),
    "huge": (
        _huge,
        ["huge.yaml: <root>: a configuration file may hold at most 1 MiB and this one is 6.0 MiB"],
    ),
    "bool_int": (
        "seed: 0\nbatch_size: true\n",
        ["bool_int.yaml:2:1: batch_size: expected an integer, got the boolean true"],
    ),
    "float_int": (
        "sequence_length: 1.0e+11\n",
        ["float_int.yaml:1:1: sequence_length: expected an integer, got the number 100000000000.0"],
    ),
    "infinite_prob": (
        "objectives:\n  - {name: prefix_lm, prob: .inf}\n",
        ["infinite_prob.yaml:2:23: objectives[0].prob: expected a finite number, got inf"],
    ),
    "oversized_batch": (
        "batch_size: 1000000000000\nsequence_length: 100000000000\n",
        [
            (
                "oversized_batch.yaml:1:1: batch_size: batch_size × sequence_length = 1,000,000,000,000 × "
                "100,000,000,000 = 100,000,000,000,000,000,000,000 positions: one batch needs"
            ),
            "lower batch_size or sequence_length",
        ],
    ),
    "too_many_workers": (
        "workers: {num_workers: 100000}\n",
        ["too_many_workers.yaml:1:11: workers.num_workers: Input should be less than or equal to 128 (got "],
    ),
    "empty": ("", ["empty.yaml: <root>: the file holds no configuration"]),
    "missing_data": (
        "data:\n  train: {name: files, paths: [corpus/*.jsonl, notes.txt]}\n  validation: null\n",
        [
            "missing_data.yaml:2:32: data.train.paths[0]: ",
            "missing_data.yaml:2:48: data.train.paths[1]: ",
            "corpus/*.jsonl",
            "notes.txt",
        ],
    ),
    "missing_vocabulary": (
        "tokenizer: {name: tiktoken, encoding: cl100k_base, vocab_file: cl100k_base.tiktoken}\n",
        ["missing_vocabulary.yaml:1:52: tokenizer.vocab_file: ", "cl100k_base.tiktoken"],
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_birdie_config_check_reports_hostile_and_careless_files_without_a_traceback(tmp_path, case):
    content, expected = CLI_CASES[case]
    path = tmp_path / ("laughs.yaml" if case == "billion_laughs" else f"{case}.yaml")
    if callable(content):
        content(path)
    else:
        path.write_bytes(content.encode())
    proc = birdie_check(path, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for needle in expected:
        assert needle in proc.stderr, proc.stderr


def test_birdie_config_check_reports_every_problem_of_one_file_at_once(tmp_path):
    path = tmp_path / "careless.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            batch_size: 100000000000
            tokenizer: {name: tiktoken, encoding: cl100k_base, vocab_file: vocab.tiktoken}
            data:
              train: {name: files, paths: [missing.jsonl]}
            """
        )
    )
    proc = birdie_check(path, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("  - ")]
    assert [line.split(": ")[0:2] for line in lines] == [
        ["  - careless.yaml:1:1", "batch_size"],
        ["  - careless.yaml:2:52", "tokenizer.vocab_file"],
        ["  - careless.yaml:4:32", "data.train.paths[0]"],
    ]
    assert proc.stderr.startswith("error: 3 problems in the configuration:")


def test_birdie_config_check_looks_up_a_callable_module_without_importing_it(tmp_path):
    # importing the module would run this: a check must not run the code a config names
    marker = tmp_path / "imported.txt"
    package = tmp_path / "userdata"
    package.mkdir()
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (package / "docs.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef documents(split, worker_id, num_workers, rng_seed):\n"
        "    return ['a document']\n"
    )
    good = tmp_path / "good.yaml"
    good.write_text(
        "data:\n"
        "  train: {name: callable, function: 'userdata.docs:documents'}\n"
        "  validation: {name: callable, function: userdata.docs.documents, text_grabber: 'userdata:grab'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
    env["PYTHONPATH"] = str(tmp_path)
    command = [BIRDIE, "config", "check", good.name]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout
    assert not marker.exists(), "config check imported the callable source's module"

    missing = tmp_path / "missing.yaml"
    missing.write_text(
        "data:\n"
        "  train: {name: callable, function: 'userdata.nope:documents'}\n"
        "  validation: {name: callable, function: 'no_such_module_for_birdie:documents'}\n"
    )
    command = [BIRDIE, "config", "check", missing.name]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        "missing.yaml:2:27: data.train.function: cannot import 'userdata.nope:documents': no module named "
        "'userdata.nope'" in proc.stderr
    ), proc.stderr
    assert "data.validation.function" in proc.stderr and "'no_such_module_for_birdie'" in proc.stderr
    assert not marker.exists(), "config check imported a package to look up its submodule"


def test_find_modules_reports_both_fields_and_bad_import_strings():
    from birdie_core.builtins.sources import CallableSource

    CallableSource.find_modules(CallableSource.Config(name="callable", function="json:loads"))
    config = CallableSource.Config(
        name="callable", function="os.path.nope_module.fn", text_grabber="no_such_module_for_birdie.grab"
    )
    with pytest.raises(ConfigError) as info:
        CallableSource.find_modules(config)
    issues = {i.path: i.message for i in info.value.issues}
    assert "no module named 'os.path.nope_module'" in issues["function"]
    assert "no module named 'no_such_module_for_birdie'" in issues["text_grabber"]
    assert "is it installed, or its directory on PYTHONPATH?" in issues["text_grabber"]
