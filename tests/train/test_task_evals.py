"""Evaluation tasks in `birdie train` (train.evals), starting from a trained run (train.init_from), and
`birdie eval`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from safetensors.torch import load_file

from birdie_core.cli import cli
from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import ConfigError
from birdie_core.train import trackers
from birdie_core.train.evaluation import load_trained_model, read_task_log
from birdie_core.train.loop import train
from tests.support import evaluations, losses, tiny_config

#: small enough for the tiny configs' 64-position rows
PHONEBOOK = {"task": "phonebook", "n": 6, "entries": 2, "queries": 1, "digits": 2}
RECALL = {"task": "associative_recall", "n": 6, "pairs": 3, "digits": 1}
PHONEBOOK_KEY = "phonebook[digits=2,entries=2,queries=1]"
RECALL_KEY = "associative_recall[digits=1,pairs=3]"


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 12-step run scoring two tasks at every evaluation: its result and printed lines."""
    run = tmp_path_factory.mktemp("finished") / "run"
    said: list[str] = []
    result = train(tiny_config(run, train={"evals": [PHONEBOOK, RECALL]}), echo=said.append, progress="lines")
    return run, result, said


# ---------------------------------------------------------------------------------------------------------
# train.evals
# ---------------------------------------------------------------------------------------------------------


def test_tasks_are_scored_at_every_evaluation(finished):
    run, result, said = finished
    records = read_task_log(run)
    steps = [s for s, _, _ in evaluations(run)]
    assert steps == [0, 3, 6, 9, 12]
    assert [(r["step"], r["key"]) for r in records] == [
        (s, key) for s in steps for key in (PHONEBOOK_KEY, RECALL_KEY)
    ]
    for r in records:
        assert 0.0 <= r["value"] <= 1.0 and r["n"] == 6 and r["seed"] == 0
        assert set(r) == {"step", "key", "task", "metric", "value", "chance", "n", "seed"}
    assert {r["metric"] for r in records} == {"digit_accuracy", "exact_match"}
    assert result.final_tasks == {r["key"]: r["value"] for r in records if r["step"] == 12}
    lines = [line for line in said if line.strip().startswith("tasks:")]
    assert len(lines) == 5 and PHONEBOOK_KEY in lines[-1] and "digit acc" in lines[-1]


def test_task_values_go_to_the_trackers():
    record = {"step": 3, "losses": {"a": 1.0}, "mixture": {"a": 1.0}}
    values = trackers.evaluation_values(record, {PHONEBOOK_KEY: 0.25})
    assert values[f"task/{PHONEBOOK_KEY}"] == 0.25
    assert not any(k.startswith("task/") for k in trackers.evaluation_values(record))


def test_a_run_without_tasks_has_no_task_results(tmp_path):
    run = tmp_path / "run"
    result = train(tiny_config(run, curriculum={"num_steps": 2}), echo=quiet)
    assert result.final_tasks is None and not (run / "tasks.jsonl").exists()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"task": "phonebook", "entires": 2}, "entires"),
        ({"task": "phonbook"}, "unknown task 'phonbook'"),
        ({"task": "phonebook", "n": 0}, "n"),
    ],
)
def test_a_bad_task_entry_is_a_config_error_with_its_path(tmp_path, entry, expected):
    run = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        train(tiny_config(run, train={"evals": [PHONEBOOK, entry]}), echo=quiet)
    assert "train.evals[1]" in str(info.value) and expected in str(info.value)
    assert not run.exists()


def test_two_entries_with_one_key_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"evals\[1\] has the key"):
        train(
            tiny_config(tmp_path / "run", train={"evals": [PHONEBOOK, {**PHONEBOOK, "seed": 1}]}), echo=quiet
        )


def test_a_task_whose_markers_the_tokenizer_lacks_fails_before_the_run_starts(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        train(tiny_config(run, train={"evals": [{"task": "selective_copying", "n": 2}]}), echo=quiet)
    assert "train.evals[0]" in str(info.value) and "task_answer" in str(info.value)
    assert not run.exists()


def test_task_results_survive_an_interruption_and_resume_exactly(tmp_path, monkeypatch, finished):
    whole_run, _, _ = finished
    broken = tmp_path / "broken"
    cfg = tiny_config(broken, train={"evals": [PHONEBOOK, RECALL]})
    real = Birdie.get_next_training_sample
    calls = {"n": 0}

    def crash_at_step_10(self):
        calls["n"] += 1
        if calls["n"] == 11:  # steps 0-9 done, evaluations 0..9 logged, the newest checkpoint is step 8
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Birdie, "get_next_training_sample", crash_at_step_10)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, echo=quiet)
    monkeypatch.setattr(Birdie, "get_next_training_sample", real)
    assert [r["step"] for r in read_task_log(broken)][-1] == 9
    result = train(cfg, resume=broken, echo=quiet)
    assert read_task_log(broken) == read_task_log(whole_run)
    assert losses(broken) == losses(whole_run)  # scoring the tasks drew nothing from the training's RNG
    assert result.final_tasks == finished[1].final_tasks
    # a run directory with task results is still one --overwrite may replace
    train(tiny_config(broken, curriculum={"num_steps": 1}), overwrite=True, echo=quiet)
    assert not (broken / "tasks.jsonl").exists()


# ---------------------------------------------------------------------------------------------------------
# train.init_from
# ---------------------------------------------------------------------------------------------------------


def test_init_from_starts_with_the_other_runs_trained_weights(tmp_path, finished):
    source, _, _ = finished
    run = tmp_path / "tuned"
    said: list[str] = []
    train(tiny_config(run, train={"init_from": str(source)}, curriculum={"num_steps": 3}), echo=said.append)
    assert any(line.startswith(f"model weights from {source}") for line in said)
    # the same validation batches (same seed and objectives): the first evaluation measures the source's
    # final model
    assert evaluations(run)[0][1] == pytest.approx(evaluations(source)[-1][1], rel=1e-5)
    assert evaluations(run)[0][0] == 0  # the step count, schedule and curriculum start afresh

    model, _ = load_trained_model(source)
    trained = load_file(str(source / "checkpoints" / "step_0000012" / "model.safetensors"))
    assert all((model.state_dict()[k] == v).all() for k, v in trained.items())


PHONEBOOK_OPTIONS = {"entries": 2, "queries": 1, "digits": 2}
#: a fine-tuning config on top of the tiny one: a task source and the task_answer objective, whose markers
#: (<|answer|> and the tasks' own) are reserved ids the pre-trained run's tokenizer lacks
FINE_TUNE = {
    "data": {
        split: {"name": "task", "split": split, "task": "phonebook", "count": 40, **PHONEBOOK_OPTIONS}
        for split in ("train", "validation")
    },
    "objectives": [
        {"name": "task_answer", "id": "answer"},
        {"name": "next_token_prediction", "id": "ntp"},
        {"name": "prefix_lm", "id": "plm", "paradigm": "[S]"},
    ],
}


def test_init_from_maps_reserved_ids_by_name_when_the_base_vocabulary_is_the_same(tmp_path, finished):
    import torch

    from birdie_core.pipeline.build import Components
    from birdie_core.train.evaluation import init_weights_from
    from birdie_core.train.loop import build_model

    source, _, _ = finished
    run = tmp_path / "tuned"
    cfg = tiny_config(run, **FINE_TUNE, train={"init_from": str(source)}, curriculum={"num_steps": 3})
    said: list[str] = []
    assert train(cfg, echo=said.append).finished  # the documented fine-tuning path runs
    (note,) = [line.strip() for line in said if line.strip().startswith(f"init_from {source}:")]

    old_tok = Components.resolve(tiny_config(source)).tokenizer()
    components = Components.resolve(cfg)
    tok = components.tokenizer()
    new_names = [n for n in tok.reserved.markers if n not in old_tok.reserved.markers]
    assert "<|answer|>" in new_names and tok.vocab_size == old_tok.vocab_size + len(new_names)
    assert f"{len(new_names)} reserved ids new in this run (<|answer|>" in note and "start untrained" in note
    moved = [m for m in old_tok.reserved.markers if tok.special_id(m) != old_tok.special_id(m)]
    assert moved == ["[S]"] and note.endswith("; 1 moved")  # after the new markers

    old = load_file(str(source / "checkpoints" / "step_0000012" / "model.safetensors"))
    torch.manual_seed(0)
    model = build_model(components.config, components.config.train, tok.vocab_size)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    assert init_weights_from(model, source, tok) == note
    weights = model.state_dict()
    base = tok.reserved.base_size
    shared = [(tok.pad_id, old_tok.pad_id)] + [
        (tok.special_id(n), old_tok.special_id(n))
        for n in [*(f"<mask_{i}>" for i in range(8)), "<|gen|>", "[S]"]
    ]
    for name in ("embed.weight", "head.weight"):
        new_rows, old_rows = weights[name], old[name]
        assert torch.equal(new_rows[:base], old_rows[:base])  # ordinary ids (and the pad, 0) copy straight
        for i, j in shared:  # each reserved name both have: from its old id to its new one
            assert torch.equal(new_rows[i], old_rows[j])
        for special in new_names:  # new ids keep the fresh model's initialisation
            i = tok.special_id(special)
            assert torch.equal(new_rows[i], fresh[name][i])
            assert all(not torch.equal(new_rows[i], old_rows[j]) for j in range(old_rows.shape[0]))
    # every other parameter is the other run's, exactly
    assert all(torch.equal(weights[k], v) for k, v in old.items() if k not in ("embed.weight", "head.weight"))


def test_init_from_refuses_another_tokenizer_and_names_both_sides(tmp_path, finished):
    pytest.importorskip("tokenizers")
    from birdie_core.testing.tokenizers import train_bpe

    source, _, _ = finished
    run = tmp_path / "other"
    path = train_bpe(tmp_path, vocab_size=400)
    tokenizer = {"name": "huggingface", "path": str(path), "num_sentinels": 8}
    cfg = tiny_config(run, tokenizer=tokenizer, train={"init_from": str(source)})
    with pytest.raises(ConfigError) as info:
        train(cfg, echo=quiet)
    message = str(info.value)
    assert f"init_from {source}" in message and "vocab 267" in message and "gives 411" in message
    assert "use the same tokenizer" in message
    assert not run.exists()  # refused before the run directory was made


def test_init_from_refuses_another_model_shape(tmp_path, finished):
    source, _, _ = finished
    cfg = tiny_config(tmp_path / "wide", train={"init_from": str(source), "model": {"width": 64}})
    with pytest.raises(ConfigError, match="shapes differ"):
        train(cfg, echo=quiet)


def test_init_from_needs_a_run_with_a_verified_checkpoint(tmp_path):
    with pytest.raises(Exception, match="not a run directory"):
        train(tiny_config(tmp_path / "run", train={"init_from": str(tmp_path)}), echo=quiet)


def test_init_from_is_not_used_when_resuming(tmp_path, finished):
    source, _, _ = finished
    run = tmp_path / "tuned"
    cfg = tiny_config(run, train={"init_from": str(source)}, curriculum={"num_steps": 4})
    train(cfg, max_steps=2, echo=quiet)
    said: list[str] = []
    train(cfg, resume=run, echo=said.append)
    assert any("is not used" in line for line in said)


# ---------------------------------------------------------------------------------------------------------
# birdie eval
# ---------------------------------------------------------------------------------------------------------


def _eval(*args: str):
    return CliRunner().invoke(cli, ["eval", *args])


def test_birdie_eval_scores_a_finished_run(finished):
    run, result, _ = finished
    out = _eval(
        str(run), "--task", "phonebook", "--n", "6", "-p", "entries=2", "-p", "queries=1", "-p", "digits=2"
    )
    assert out.exit_code == 0, out.output
    assert out.output.startswith("phonebook: digit_accuracy ") and "n=6" in out.output
    # the same instances and weights as the final evaluation of the run
    value = float(out.output.split()[2])
    assert value == pytest.approx(result.final_tasks[PHONEBOOK_KEY], abs=1e-4)

    out = _eval(str(run), "--task", "associative_recall", "--n", "3", "-p", "pairs=3", "--json", "--details")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {"task", "metric", "value", "chance", "n", "seed", "config", "details"} <= set(data)
    assert data["n"] == 3 and len(data["details"]) == 3 and data["config"]["pairs"] == 3


def test_birdie_eval_errors(tmp_path, finished):
    run, _, _ = finished
    out = _eval(str(tmp_path), "--task", "phonebook")
    assert out.exit_code == 1 and "not a run directory" in out.output
    out = _eval(str(run), "--task", "phonbook")
    assert out.exit_code == 2 and "did you mean 'phonebook'" in out.output
    out = _eval(str(run), "--task", "phonebook", "-p", "entires=3")
    assert out.exit_code == 2 and "entires" in out.output
    out = _eval(str(run), "--task", "selective_copying", "--n", "2")
    assert out.exit_code == 1 and "task_answer" in out.output


def test_birdie_eval_refuses_an_altered_checkpoint(tmp_path, finished):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished[0], run)
    weights = run / "checkpoints" / "step_0000012" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    out = _eval(str(run), "--task", "phonebook")
    assert out.exit_code == 1 and "sha256" in out.output and "model.safetensors" in out.output
