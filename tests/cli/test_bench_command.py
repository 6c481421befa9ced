"""``birdie bench objective``: a table (or JSON) of examples/s beside the core's objectives. No timing is asserted:
only which rows there are and what they hold."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.cli import cli
from birdie_core.registry import load_registry
from birdie_core.tools.bench_objective import START_MARKER, bench_objectives, measure_objective

FAST = ["--documents", "4", "--seconds", "0", "--length", "128"]
FIELDS = {
    "objective",
    "examples_per_s",
    "us_per_example",
    "examples",
    "builds",
    "seconds",
    "documents",
    "skipped_documents",
    "mean_length",
    "mean_consumed",
    "error",
}


def core_objectives() -> list[str]:
    return load_registry(autoload=False).names("objective")


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, ["bench", "objective", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def table_rows(output: str) -> dict[str, list[str]]:
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if "EXAMPLES/S" in line)
    rows = [line.split() for line in lines[header + 1 :]]
    return {cells[1] if cells[0] == "*" else cells[0]: cells for cells in rows}


def test_a_built_in_objective_beside_the_core_s():
    output = invoke("next_token_prediction", *FAST)
    assert (
        "4 documents of the embedded corpus" in output and "core.bytes" in output and "budget 128" in output
    )
    rows = table_rows(output)
    assert set(rows) == set(core_objectives()) and "core.prefix_lm" in rows
    assert rows["core.next_token_prediction"][0] == "*"  # the objective asked for is marked
    # (an objective that needs documents of its own kind skips plain text: it has no rate to check)
    for cells in (rows["core.next_token_prediction"], rows["core.prefix_lm"]):
        rate, us, examples, skipped, mean_length = cells[-6:-1]
        assert float(rate.replace(",", "")) > 0 and float(us.replace(",", "")) > 0
        assert int(examples.replace(",", "")) > 0 and skipped.endswith("/4")
        assert 0 < float(mean_length) <= 128


def test_the_example_plugin_s_objective_as_json():
    pytest.importorskip("birdie_reversal")
    data = json.loads(invoke("reverse", *FAST, "--json", "-p", "min_tokens=4"))
    assert data["length"] == 128 and data["documents"] == 4 and data["tokenizer"] == "core.bytes"
    assert data["document_tokens"] > 0
    names = [r["objective"] for r in data["rows"]]
    assert names == ["reversal.reverse", *core_objectives()]
    for row in data["rows"]:
        assert set(row) == FIELDS and row["error"] is None and row["documents"] == 4
        if row["examples"] == 0:  # an objective that needs documents of its own kind skips plain text
            assert row["skipped_documents"] == 4 and row["objective"].startswith("core.")
            continue
        assert row["examples"] > 0 and row["examples_per_s"] > 0 and row["documents"] == 4
        assert 0 < row["mean_length"] <= 128 and row["mean_consumed"] > 0
    made = {r["objective"] for r in data["rows"] if r["examples"]}
    assert {"reversal.reverse", "core.next_token_prediction", "core.prefix_lm"} <= made
    reverse = data["rows"][0]
    # a reversal reads a span and writes it again: about half the positions are document tokens
    assert reverse["mean_consumed"] < reverse["mean_length"]


def test_a_chosen_set_and_an_invalid_parameter():
    pytest.importorskip("birdie_reversal")
    data = json.loads(invoke("reverse", *FAST, "--json", "--against", "none", "-p", "min_tokens=1"))
    (row,) = data["rows"]
    assert row["objective"] == "reversal.reverse" and "min_tokens" in row["error"]
    text = invoke("reverse", *FAST, "--against", "prefix_lm", "-p", "min_tokens=1")
    assert set(table_rows(text)) == {"reversal.reverse", "core.prefix_lm"}
    assert "error: min_tokens:" in text


def test_an_unknown_objective_is_a_usage_error():
    result = CliRunner().invoke(cli, ["bench", "objective", "no_such_objective", *FAST])
    assert result.exit_code == 1 and "unknown objective 'no_such_objective'" in result.output


def test_the_tokenizer_can_be_given_as_a_yaml_entry():
    data = json.loads(invoke("prefix_lm", *FAST, "--json", "--tokenizer", "{name: bytes, num_sentinels: 8}"))
    assert data["tokenizer"] == "core.bytes" and data["rows"][0]["objective"] == "core.prefix_lm"


def test_measure_objective_takes_examples_until_each_document_is_used_up():
    reg = load_registry(autoload=False)
    cls = reg.resolve("objective", "next_token_prediction").obj
    objective = cls(cls.Config(name="core.next_token_prediction"))
    tok = ByteTokenizer(None, [START_MARKER])
    docs = [np.arange(1, 101, dtype=np.int32), np.arange(1, 3, dtype=np.int32)]
    whole = measure_objective(objective, tok, docs, 32, seconds=0)
    one = measure_objective(objective, tok, docs, 32, seconds=0, whole_documents=False)
    assert whole.documents == 2 and whole.examples > one.examples >= 1
    assert whole.mean_consumed * whole.examples == pytest.approx(102, abs=2)  # (almost) every token used
    report = bench_objectives(["prefix_lm"], reg, length=64, documents=2, seconds=0)
    assert [r.objective for r in report.rows] == ["core.prefix_lm"] and report.documents == 2


def test_a_parameter_without_a_value_is_a_usage_error_for_bench_and_eval(tmp_path):
    runner = CliRunner()
    bench = runner.invoke(cli, ["bench", "objective", "reverse", *FAST, "-p", "min_tokens"])
    assert bench.exit_code == 2 and "--param 'min_tokens': expected KEY=VALUE" in bench.output
    scored = runner.invoke(cli, ["eval", str(tmp_path), "--task", "phonebook", "-p", "entries:3"])
    assert scored.exit_code == 2 and "--param 'entries:3': expected KEY=VALUE" in scored.output
