"""The evaluation tasks: deterministic per seed, formats as documented, metrics on hand-made answers."""

from __future__ import annotations

import re

import pytest

from birdie_core.evals import (
    TASKS,
    EvalError,
    Marker,
    PhonebookConfig,
    digit_accuracy,
    exact_match,
    generate,
    make_task,
)
from birdie_core.evals.copying import CONTEXT, COPY, DONE, END, START
from birdie_core.evals.infilling import BLANK, FAMILIES

SMALL = {"selective_copying": {"context_words": 24}}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_same_seed_same_instances_other_seed_or_stream_others(task):
    a = generate(task, 6, seed=3, **SMALL.get(task, {}))
    assert a == generate(task, 6, seed=3, **SMALL.get(task, {}))
    assert a != generate(task, 6, seed=4, **SMALL.get(task, {}))
    assert a != generate(task, 6, seed=3, stream="train", **SMALL.get(task, {}))
    # instance i does not depend on how many are asked for, or from where
    assert generate(task, 2, seed=3, start=4, **SMALL.get(task, {})) == a[4:]
    assert len({i.prompt_text for i in a}) == len(a)


def parse_phonebook(prompt: str) -> tuple[list[str], dict[str, str], list[str]]:
    lines = prompt.split("\n")
    assert lines[-1] == ""  # the prompt ends with a line break
    first, *book, again = lines[:-1]
    entries = dict(line.split(": ") for line in book)
    return first.split(", "), entries, again.split(", ")


@pytest.mark.parametrize("entries, queries, digits", [(16, 2, 5), (8, 8, 3), (1, 1, 1), (800, 32, 7)])
def test_phonebook_layout_parses_back(entries, queries, digits):
    for inst in generate("phonebook", 5, seed=1, entries=entries, queries=queries, digits=digits):
        asked, book, again = parse_phonebook(inst.prompt_text)
        assert asked == again and len(set(asked)) == queries
        assert len(book) == entries  # names unique: no entry overwrote another
        assert all(re.fullmatch(rf"\d{{{digits}}}", number) for number in book.values())
        assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", name) for name in book)
        assert inst.answer_text == ",".join(book[name] for name in asked)


def test_phonebook_parameters_are_validated():
    with pytest.raises(EvalError, match="queries"):
        make_task("phonebook", entries=2, queries=3)
    with pytest.raises(EvalError, match="entires"):
        make_task("phonebook", entires=2)
    with pytest.raises(EvalError, match="did you mean 'phonebook'"):
        make_task("phonebok")
    assert make_task("phonebook", PhonebookConfig(entries=4, queries=1)).config.entries == 4


def test_associative_recall_answer_is_the_queried_value():
    for inst in generate("associative_recall", 10, seed=0, pairs=6, digits=3):
        pairs_line, query = inst.prompt_text.split("\n")
        pairs = dict(p.split("=") for p in pairs_line.split(" "))
        assert len(pairs) == 6 and query.endswith("=")
        assert pairs[query[:-1]] == inst.answer_text


def test_selective_copying_probe_is_in_the_objective_format_and_answerable():
    for inst in generate("selective_copying", 20, seed=0, context_words=40, spans=(1, 3)):
        prompt, answer = list(inst.prompt), list(inst.answer)
        assert prompt.count(CONTEXT) == 1 and answer.count(DONE) == prompt.count(COPY) >= 1
        context = prompt[prompt.index(CONTEXT) + 1]
        assert isinstance(context, str) and len(context.split()) == 40
        queries = [prompt[i : i + 5] for i, p in enumerate(prompt) if p == COPY]
        spans = [answer[i] for i in range(0, len(answer), 2)]
        words = context.split()
        for (_, start, d1, end, d2), span in zip(queries, spans):
            assert (start, end) == (START, END)
            # the reader's rule: after the only occurrence of the start delimiter, up to the end delimiter
            d1w, d2w = d1.split(), d2.split()
            hits = [i for i in range(len(words)) if words[i : i + len(d1w)] == d1w]
            assert len(hits) == 1
            a = hits[0] + len(d1w)
            b = next(i for i in range(a, len(words)) if words[i : i + len(d2w)] == d2w)
            assert " ".join(words[a:b]) == span
    assert all(isinstance(m, Marker) for m in (COPY, START, END, CONTEXT, DONE))


def test_multiple_choice_infilling_has_one_right_candidate_from_the_story():
    for inst in generate("multiple_choice_infilling", 30, seed=0):
        story = inst.prompt_text
        assert story.count(BLANK) == 1 and len(inst.candidates) == 4
        assert len(set(inst.candidate_texts)) == 4
        assert inst.candidate_texts[inst.correct] == inst.answer_text
        family = next(f for f, events in FAMILIES.items() if any(e.split()[0] in story for e in events))
        assert family
        # filling the blank with the right candidate gives a story in which every event occurs once
        filled = story.replace(BLANK, inst.answer_text)
        for text in inst.candidate_texts:
            assert filled.count(text + ".") == 1
            if text != inst.answer_text:
                assert text + "." in story  # a distractor already has its place in the story


def test_chance_levels():
    assert make_task("phonebook").chance() == pytest.approx(0.1)
    assert make_task("multiple_choice_infilling").chance() == pytest.approx(0.25)
    assert make_task("associative_recall", pairs=8).chance() == pytest.approx(1 / 8)


def test_digit_accuracy_on_hand_made_answers():
    assert digit_accuracy("12345,67890", "12345,67890") == 1.0
    assert digit_accuracy("00000,00000", "12345,67891") == 0.0
    assert digit_accuracy("12300,67890", "12345,67890") == pytest.approx(8 / 10)
    assert digit_accuracy("1234", "12345") == pytest.approx(4 / 5)  # a missing digit is wrong
    assert digit_accuracy("1345", "12345") == pytest.approx(1 / 5)  # ... and shifts the rest
    assert digit_accuracy("123456", "12345") == pytest.approx(5 / 6)  # an extra character counts wrong
    assert digit_accuracy("", "12345") == 0.0
    assert digit_accuracy("12345;67890", "12345,67890") == 1.0  # the comma is not a digit
    assert exact_match("42", "42") == 1.0 and exact_match("42 ", "42") == 0.0
