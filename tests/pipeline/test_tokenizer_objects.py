"""Tokenizer objects through the Python API: every kind is wrapped with its own ids and checked at build time."""

from __future__ import annotations

import functools
import logging
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

from birdie_core.builtins.objects import (
    SAMPLE_TEXT,
    ObjectTokenizer,
    tokenizer_object_kind,
    wrap_tokenizer_object,
)
from birdie_core.config import FlatFormWarning, load_config, read_config
from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import ConfigError, PipelineError
from birdie_core.interfaces import IGNORE_INDEX
from birdie_core.pipeline import Components, Pipeline
from birdie_core.testing import CORPUS
from birdie_core.testing.batches import assert_batch_contract
from tests.support import ROOT, make_config, make_registry, subprocess_env

pytestmark = pytest.mark.usefixtures("time_limit")

#: ASCII documents, each one recognisable: a decoded slice of one is a substring of exactly that document
DOCS = tuple(f"[document {i:02d}] " + CORPUS[i].encode("ascii", "ignore").decode()[:700] for i in range(16))


@pytest.fixture(scope="module")
def registry():
    return make_registry()


# -- the objects --------------------------------------------------------------------------------------------


class CharTokenizer:
    """Character-level: a fixed alphabet, id 0 for anything outside it (so lossy for accents and CJK)."""

    ALPHABET = "\0" + "".join(chr(c) for c in range(32, 127)) + "\n\t"

    def __init__(self) -> None:
        self.ids = {c: i for i, c in enumerate(self.ALPHABET)}
        self.vocab_size = len(self.ALPHABET)

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(c, 0) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.ALPHABET[i] for i in ids)


class PaddedCharTokenizer(CharTokenizer):
    """With its own pad token: id 0 is never produced by encode (unknown characters are '?')."""

    pad_token_id = 0

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(c, self.ids["?"]) for c in text]


class LockedCharTokenizer(CharTokenizer):
    """Holds a lock, so it cannot be pickled."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


class NoSizeTokenizer:
    def encode(self, text: str) -> list[int]:
        return list(text.encode())

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode()


class OutOfRangeTokenizer(CharTokenizer):
    """Claims a vocabulary smaller than the ids it produces."""

    def __init__(self) -> None:
        super().__init__()
        self.vocab_size = 40


class NotATokenizer:
    def tokenize(self, text: str) -> list[str]:
        return text.split()


def slow_transformers_tokenizer():
    """A slow (pure Python) transformers tokenizer; its class is made here so that only the tests that use
    it import transformers, and made a module global so that it pickles."""
    from transformers import PreTrainedTokenizer

    global CharSlowTokenizer

    class CharSlowTokenizer(PreTrainedTokenizer):
        """Character-level, ``<pad>`` 0 and ``<unk>`` 1; adds ``<s>`` … ``</s>`` unless told not to."""

        def __init__(self, **kwargs):
            chars = [chr(c) for c in range(32, 127)] + ["\n"]
            self.vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
            self.vocab.update({c: i + 4 for i, c in enumerate(chars)})
            self.inverse = {i: c for c, i in self.vocab.items()}
            super().__init__(
                pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>", **kwargs
            )

        @property
        def vocab_size(self):
            return len(self.vocab)

        def get_vocab(self):
            return dict(self.vocab)

        def _tokenize(self, text):
            return list(text)

        def _convert_token_to_id(self, token):
            return self.vocab.get(token, 1)

        def _convert_id_to_token(self, index):
            return self.inverse.get(index, "<unk>")

        def convert_tokens_to_string(self, tokens):
            return "".join(tokens)

        def build_inputs_with_special_tokens(self, ids, pair=None):
            return [2, *ids, 3]

    CharSlowTokenizer.__qualname__ = "CharSlowTokenizer"
    return CharSlowTokenizer()


def tiny_tiktoken():
    import tiktoken

    return tiktoken.Encoding(
        name="birdie_test_bytes",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``trained(name)``: the file of the testing kit's tiny tokenizer ``train_<name>``, trained once for this
    module (up to a second each)."""
    from birdie_core.testing import tokenizers as kit

    directory = tmp_path_factory.mktemp("tokenizers")
    return functools.cache(lambda name: str(getattr(kit, f"train_{name}")(directory)))


@pytest.fixture(scope="module")
def hf_tokenizer(trained):
    """A byte-level BPE (exact round trip), as a ``tokenizers.Tokenizer``."""
    pytest.importorskip("birdie_core.builtins.huggingface")
    from tokenizers import Tokenizer

    return Tokenizer.from_file(trained("bpe"))


def _object(kind: str, request: pytest.FixtureRequest):
    if kind == "tiktoken":
        return tiny_tiktoken()
    if kind in ("chars", "padded_chars"):
        return {"chars": CharTokenizer, "padded_chars": PaddedCharTokenizer}[kind]()
    if kind == "transformers_slow":
        pytest.importorskip("transformers")
        return slow_transformers_tokenizer()
    trained = request.getfixturevalue("trained")
    if kind == "sentencepiece":
        pytest.importorskip("birdie_core.builtins.sentencepiece")
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=trained("sentencepiece"))
    hf_tokenizer = request.getfixturevalue("hf_tokenizer")
    if kind == "tokenizers":
        return hf_tokenizer
    if kind == "transformers":
        pytest.importorskip("transformers")
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast(tokenizer_object=hf_tokenizer)
    from tokenizers import Tokenizer

    return Tokenizer.from_file(trained({"t5_unigram": "unigram", "wordpiece": "wordpiece"}[kind]))


def plain_ids(kind: str, obj, text: str) -> list[int]:
    """The ids the object itself gives ``text``, without any BOS/EOS (what Birdie must keep)."""
    if kind in ("tokenizers", "t5_unigram"):
        return obj.encode(text, add_special_tokens=False).ids
    if kind in ("transformers", "transformers_slow"):
        return obj.encode(text, add_special_tokens=False)
    return [int(i) for i in obj.encode(text)]


KINDS = [
    "tiktoken",
    "tokenizers",
    "t5_unigram",
    "wordpiece",
    "transformers",
    "transformers_slow",
    "sentencepiece",
    "chars",
    "padded_chars",
]


def with_tokenizer(obj, **overrides):
    """The nested test config over DOCS, with ``obj`` as its tokenizer."""
    cfg = make_config(texts=DOCS, **overrides)
    cfg["tokenizer"] = obj
    return cfg


# -- every kind -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_batches_that_keep_the_contract(kind, request, registry):
    obj = _object(kind, request)
    pipe = Pipeline.from_config(with_tokenizer(obj), registry)
    tokenizer = pipe.tokenizer
    for _ in range(3):
        batch = pipe.next_batch()
        assert_batch_contract(batch, num_arms=2)
        assert batch.pad_id == tokenizer.pad_id
        assert int(batch.input_ids.max()) < tokenizer.vocab_size
    assert tokenizer.special_id("[S]") >= 0
    # a vocabulary with sentinel tokens of its own keeps exactly those; the others get the default 512
    assert tokenizer.sentinel_ids().size == (100 if kind == "t5_unigram" else 512)
    if kind not in ("tiktoken", "wordpiece"):  # tiktoken's ids move up by one; WordPiece pads and truncates
        text = "Hello world, said the bird."
        assert tokenizer.encode(text).tolist() == plain_ids(kind, obj, text)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_pickles_for_spawned_workers(kind, request, registry, monkeypatch):
    from birdie_core.pipeline import workers

    monkeypatch.setattr(workers, "_start_method", lambda: None)  # as on a platform without fork
    obj = _object(kind, request)
    components = Components.resolve(with_tokenizer(obj, num_workers=2), registry)
    tokenizer = components.tokenizer()
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert clone.encode("a few words").tolist() == tokenizer.encode("a few words").tolist()


def test_kinds(request):
    expected = {
        "tiktoken": "tiktoken",
        "tokenizers": "huggingface",
        "wordpiece": "huggingface",
        "transformers": "huggingface",
        "transformers_slow": "transformers_slow",
        "sentencepiece": "sentencepiece",
        "chars": "object",
    }
    for kind, found in expected.items():
        assert tokenizer_object_kind(_object(kind, request)) == found, kind


def test_a_slow_transformers_tokenizer_adds_no_bos_or_eos():
    pytest.importorskip("transformers")
    obj = slow_transformers_tokenizer()
    tok = wrap_tokenizer_object(obj, ["<|gen|>"])
    assert obj.encode("ab")[0] == 2  # the object alone adds <s> … </s>
    assert tok.encode("ab").tolist() == [obj.vocab["a"], obj.vocab["b"]]
    assert tok.pad_id == 0 and tok.decode(tok.encode("Hi there")) == "Hi there"


def test_kinds_are_recognised_without_importing_optional_packages():
    script = (
        "import sys\n"
        "from birdie_core.builtins.objects import tokenizer_object_kind\n"
        "class T:\n"
        "    def encode(self, s): return []\n"
        "    def decode(self, ids): return ''\n"
        "assert tokenizer_object_kind(T()) == 'object'\n"
        "loaded = [m for m in ('tiktoken', 'tokenizers', 'transformers', 'sentencepiece') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


# -- the acceptance test: the original flat form with a tokenizers.Tokenizer ------------------------------------


def decoded_targets(batch, decode) -> list[str]:
    """The text of each packed example's target (its labels), decoded by ``decode``."""
    labels, segments = batch["label_ids"].numpy(), batch["segment_ids"].numpy()
    out = []
    for row in range(labels.shape[0]):
        for seg in sorted(set(segments[row].tolist()) - {0}):
            target = labels[row][(segments[row] == seg) & (labels[row] != IGNORE_INDEX)]
            out.append(decode(target.tolist()))
    return out


def _documents(split, worker_id, num_workers, rng_seed=0):
    return list(DOCS[worker_id::num_workers]) if split == "train" else list(DOCS[:2])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_flat_form_with_a_tokenizers_tokenizer_gives_targets_that_decode_to_the_documents(
    hf_tokenizer, registry, num_workers
):
    if num_workers:
        pytest.importorskip("torchdata")
    flat = {
        "batch_size": 2,
        "sequence_length": 128,
        "num_workers": num_workers,
        "steps_between_evaluations": 4,
        "num_steps": 8,
        "tokenizer": hf_tokenizer,
        "ds": _documents,
        "objectives": [{"name": "next_token_prediction", "prob": 1.0}],
    }
    with pytest.warns(FlatFormWarning, match="Tokenizer object"):
        birdie = Birdie(flat, registry=registry)
    chunks = []
    with birdie:
        for _ in range(4):
            # the user's own tokenizer decodes the targets: Birdie kept its ids
            chunks += decoded_targets(birdie.get_next_training_sample(), hf_tokenizer.decode)
    assert len(chunks) >= 8
    for chunk in chunks:
        assert len(chunk) >= 2 and any(chunk in doc for doc in DOCS), chunk
    assert sum("[document" in c for c in chunks) >= 2  # the targets run through several documents


# -- the nested form ------------------------------------------------------------------------------------------


def test_the_nested_form_takes_a_tokenizer_object_beside_the_config(registry):
    obj = CharTokenizer()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FlatFormWarning)  # the nested form's sections: not the flat form
        loaded = read_config(with_tokenizer(obj), registry)
    assert loaded.objects.tokenizer is obj and loaded.objects.names() == ["tokenizer"]
    assert loaded.config.tokenizer.name == "core.bytes"  # the placeholder: the object is what is used
    assert loaded.config.curriculum.agent.name == "core.static"
    with pytest.raises(ConfigError, match=r"Python objects \(tokenizer\) cannot be part of a PipelineConfig"):
        load_config(with_tokenizer(obj), registry)
    # plain data keeps being validated as such
    with pytest.raises(ConfigError, match=r"tokenizer: expected a tokenizer entry"):
        read_config(with_tokenizer(5), registry)
    with pytest.raises(ConfigError, match="did you mean"):
        read_config({**with_tokenizer(obj), "batch_sise": 2}, registry)


def test_which_form_a_dict_with_a_tokenizer_object_is_in():
    from birdie_core.config import is_original_form

    obj = CharTokenizer()
    assert is_original_form({"tokenizer": obj, "num_workers": 0})
    assert is_original_form({"tokenizer": obj, "objectives": [{"name": "prefix_language_modeling"}]})
    assert not is_original_form({"tokenizer": obj, "curriculum": {"agent": {"name": "static"}}})
    assert not is_original_form({"tokenizer": {"name": "bytes"}, "objectives": []})


def test_birdie_in_the_nested_form_with_a_tokenizer_object(registry):
    obj = PaddedCharTokenizer()
    with Birdie(with_tokenizer(obj), registry=registry) as birdie:
        targets = decoded_targets(birdie.get_next_training_sample(), obj.decode)
    assert targets and all(any(t in doc for doc in DOCS) for t in targets), targets


# -- the wrapper of plain objects -----------------------------------------------------------------------------


def test_plain_objects_keep_their_ids_and_get_a_pad_id():
    tok = wrap_tokenizer_object(CharTokenizer(), ["<|gen|>"], num_sentinels=4)
    assert isinstance(tok, ObjectTokenizer)
    base = len(CharTokenizer.ALPHABET)
    assert tok.pad_id == base  # appended: the object has none of its own
    assert tok.sentinel_ids().tolist() == [base + 1, base + 2, base + 3, base + 4]
    assert tok.special_id("<|gen|>") == base + 5 and tok.vocab_size == base + 6
    assert tok.encode("Hi!").tolist() == CharTokenizer().encode("Hi!")
    assert tok.decode([*tok.encode("Hi"), tok.special_id("<|gen|>")]) == "Hi<|gen|>"

    padded = wrap_tokenizer_object(PaddedCharTokenizer(), ["<|gen|>"], num_sentinels=4)
    assert padded.pad_id == 0 and padded.vocab_size == base + 5  # the object's own pad id, nothing appended


def test_the_vocabulary_size_is_the_largest_the_object_names():
    class Sized(CharTokenizer):
        n_vocab = 120

        def __len__(self):
            return 130

    tok = wrap_tokenizer_object(Sized(), [], num_sentinels=1)
    assert isinstance(tok, ObjectTokenizer) and tok.base_size == 130


def test_encode_refuses_ids_outside_the_vocabulary_naming_the_text():
    class Picky(CharTokenizer):
        def encode(self, text):
            return [500] if "boom" in text else super().encode(text)

    tok = wrap_tokenizer_object(Picky(), [], num_sentinels=1)
    with pytest.raises(PipelineError, match=r"'a boom here'.*id 500, outside its vocabulary \[0, 98\)"):
        tok.encode("a boom here")
    with pytest.raises(PipelineError, match="its own pad id 0"):
        wrap_tokenizer_object(PaddedCharTokenizer(), [], num_sentinels=1).encode("\0")


def test_a_wrapped_plain_object_pickles():
    tok = wrap_tokenizer_object(CharTokenizer(), ["<|gen|>"], num_sentinels=2)
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.encode("abc").tolist() == tok.encode("abc").tolist()
    assert clone.special_id("<|gen|>") == tok.special_id("<|gen|>")


# -- checked when Birdie or a Pipeline is built ---------------------------------------------------------------


@pytest.mark.parametrize("form", ["nested", "flat"])
def test_an_object_without_encode_and_decode_is_refused_when_birdie_is_built(form, registry):
    cfg = with_tokenizer(NotATokenizer())
    if form == "flat":
        cfg = {"num_workers": 0, "tokenizer": NotATokenizer(), "batch_size": 2, "sequence_length": 128}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlatFormWarning)
        with pytest.raises(ConfigError, match=r"tokenizer: .*NotATokenizer\) has no encode or decode method"):
            Birdie(cfg, registry=registry)


def test_an_unpicklable_object_is_refused_before_spawned_workers_start(registry, monkeypatch):
    from birdie_core.pipeline import workers

    monkeypatch.setattr(workers, "_start_method", lambda: None)  # a platform without fork
    cfg = with_tokenizer(LockedCharTokenizer(), num_workers=2)
    with pytest.raises(ConfigError) as caught:
        Birdie(cfg, registry=registry)
    message = str(caught.value)
    assert "LockedCharTokenizer" in message and "cannot be pickled" in message
    assert "{name: huggingface, path: tokenizer.json}" in message and "num_workers" in message
    # in-process, nothing needs pickling
    with Birdie(with_tokenizer(LockedCharTokenizer(), num_workers=0), registry=registry) as birdie:
        birdie.get_next_training_sample()


def test_an_unpicklable_object_reaches_forked_workers(registry):
    pytest.importorskip("torchdata")
    from birdie_core.pipeline.workers import _start_method

    if _start_method() != "fork":
        pytest.skip("workers are forked only where fork exists")
    with Birdie(with_tokenizer(LockedCharTokenizer(), num_workers=2), registry=registry) as birdie:
        batch = birdie.get_next_training_sample()
    assert int(batch["segment_ids"].max()) >= 1


def test_ids_outside_the_vocabulary_are_refused_when_built(registry):
    with pytest.raises(ConfigError, match=r"OutOfRangeTokenizer\).*outside its vocabulary \[0, 40\)"):
        Pipeline.from_config(with_tokenizer(OutOfRangeTokenizer()), registry)


def test_an_object_without_a_vocabulary_size_is_a_clear_error(registry):
    with pytest.raises(ConfigError, match=r"cannot tell how many ids.*vocab_size.*name: huggingface"):
        Components.resolve(with_tokenizer(NoSizeTokenizer()), registry)


def test_broken_encode_or_decode_is_refused_when_built(registry):
    class Empty(CharTokenizer):
        def encode(self, text):
            return []

    class Floats(CharTokenizer):
        def encode(self, text):
            return [1.5, 2.0]

    class NotText(CharTokenizer):
        def decode(self, ids):
            return ids

    class Raises(CharTokenizer):
        def encode(self, text):
            raise RuntimeError("no model loaded")

    for obj, match in [
        (Empty(), "as no ids at all"),
        (Floats(), "encode must return a flat sequence of ints"),
        (NotText(), "decode must return a str"),
        (Raises(), "failed to encode the sample text .*RuntimeError: no model loaded"),
    ]:
        with pytest.raises(ConfigError, match=match):
            Components.resolve(with_tokenizer(obj), registry)


def test_a_lossy_round_trip_is_a_warning_naming_the_first_difference(registry, caplog):
    with caplog.at_level(logging.WARNING, logger="birdie_core.builtins.objects"):
        Components.resolve(with_tokenizer(CharTokenizer()), registry)
    (record,) = [r for r in caplog.records if r.name == "birdie_core.builtins.objects"]
    first = SAMPLE_TEXT.index("ä")
    assert "CharTokenizer" in record.getMessage() and f"from character {first}" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="birdie_core.builtins.objects"):
        Components.resolve(with_tokenizer(tiny_tiktoken()), registry)
    assert not caplog.records  # an exact round trip says nothing


def test_a_lower_casing_wordpiece_is_accepted_with_a_warning(request, registry, caplog):
    obj = _object("wordpiece", request)
    with caplog.at_level(logging.WARNING, logger="birdie_core.builtins.objects"):
        pipe = Pipeline.from_config(with_tokenizer(obj), registry)
    (record,) = caplog.records
    assert "from character 0, 'Birdie check' came back as 'birdie check'" in record.getMessage()
    assert_batch_contract(pipe.next_batch(), num_arms=2)


def test_the_check_runs_once_per_build_not_per_pipeline(registry, monkeypatch):
    calls = []
    obj = CharTokenizer()
    real = obj.encode
    monkeypatch.setattr(obj, "encode", lambda text: calls.append(text) or real(text))
    components = Components.resolve(with_tokenizer(obj), registry)
    assert calls == [SAMPLE_TEXT]
    components.pipeline("train")
    components.pipeline("validation")
    assert calls == [SAMPLE_TEXT]  # building pipelines wraps the object again but does not re-check it
    assert np.array_equal(components.tokenizer().encode("ab"), np.array(real("ab"), dtype=np.int32))
