"""Tiny pretrained-style tokenizers, trained locally on the embedded corpus in about a second each.

For tests of the ``huggingface`` and ``sentencepiece`` tokenizers (and of plugins that must work with them)
without a download. Each function trains into ``directory`` and returns the file it wrote; the result
depends only on the arguments. Training costs up to a second: in pytest, train once per session
(a ``scope="session"`` fixture with ``tmp_path_factory``).

- :func:`train_bpe`: byte-level BPE in the GPT-2 style, ``<|endoftext|>`` its only special token (no pad);
- :func:`train_wordpiece`: BERT-like, lower-casing, ``[PAD]`` ``[UNK]`` ``[CLS]`` ``[SEP]`` ``[MASK]``, with a
  ``[CLS] … [SEP]`` post-processor and padding and truncation switched on (as some saved tokenizers have);
- :func:`train_unigram`: T5-like Unigram with a Metaspace pre-tokenizer: ``<pad>`` ``</s>`` ``<unk>`` first,
  ``<extra_id_0>`` … ``<extra_id_99>`` last (``<extra_id_0>`` has the highest id), all special;
- :func:`train_sentencepiece`: a SentencePiece ``.model`` (unigram or bpe), with or without a pad piece.

Needs ``tokenizers`` (the ``hf`` extra) or ``sentencepiece`` (the ``sentencepiece`` extra).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from birdie_core.testing.documents import CORPUS

if TYPE_CHECKING:  # the testing kit imports without the optional tokenizer libraries
    import tokenizers

__all__ = ["train_bpe", "train_sentencepiece", "train_unigram", "train_wordpiece", "training_lines"]

#: T5's sentinels: ``<extra_id_0>`` … ``<extra_id_99>``
T5_SENTINELS = tuple(f"<extra_id_{i}>" for i in range(100))


def training_lines(max_chars: int = 150_000) -> list[str]:
    """The first non-empty lines of the embedded corpus, about ``max_chars`` characters: enough text for a
    vocabulary of a few hundred tokens, little enough to train in well under a second."""
    lines: list[str] = []
    total = 0
    for doc in CORPUS:
        for line in doc.splitlines():
            if line.strip():
                lines.append(line)
                total += len(line)
                if total >= max_chars:
                    return lines
    return lines


@contextmanager
def _without_tokenizers_threads() -> Iterator[None]:
    # once `tokenizers` has used its thread pool, every later fork of the process (a DataLoader worker, a
    # test's subprocess) prints a warning; training single-threaded keeps the test session quiet
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        yield
    finally:
        if before is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def train_bpe(directory: str | Path, vocab_size: int = 600) -> Path:
    """A byte-level BPE ``tokenizer.json`` (GPT-2 style: any text encodes and decodes back exactly)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    with _without_tokenizers_threads():
        tok.train_from_iterator(training_lines(), trainer)
    return _save(tok, directory, "bpe.json")


def train_wordpiece(directory: str | Path, vocab_size: int = 600) -> Path:
    """A BERT-like WordPiece ``tokenizer.json``: lower-casing, accents stripped, ``[PAD]`` id 0; its saved
    settings add ``[CLS]``/``[SEP]``, pad to 8 and truncate to 16 tokens (Birdie must do none of that)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    with _without_tokenizers_threads():
        tok.train_from_iterator(training_lines(), trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]", pad_to_multiple_of=8)
    tok.enable_truncation(max_length=16)
    return _save(tok, directory, "wordpiece.json")


def train_unigram(directory: str | Path, vocab_size: int = 500) -> Path:
    """A T5-like Unigram ``tokenizer.json`` (Metaspace pre-tokenizer, NFKC): ``<pad>`` 0, ``</s>`` 1,
    ``<unk>`` 2, then the pieces, then ``<extra_id_99>`` … ``<extra_id_0>``, in the model's vocabulary as in
    T5's own file (so the model itself could produce them from text) and special."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        shrinking_factor=0.5,
        max_piece_length=8,
        show_progress=False,
    )
    with _without_tokenizers_threads():
        tok.train_from_iterator(training_lines(100_000), trainer)
    # T5's layout: the sentinels are the last pieces, <extra_id_0> the very last, score 0 like its specials
    data = json.loads(tok.to_str())
    pieces = data["model"]["vocab"]
    for name in reversed(T5_SENTINELS):
        data["added_tokens"].append(
            {
                "id": len(pieces),
                "content": name,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
        pieces.append([name, 0.0])
    return _save(Tokenizer.from_str(json.dumps(data)), directory, "unigram.json")


def train_sentencepiece(
    directory: str | Path,
    *,
    model_type: str = "unigram",
    pad: bool = True,
    byte_fallback: bool = False,
    user_defined_symbols: Sequence[str] = (),
    control_symbols: Sequence[str] = (),
    vocab_size: int = 400,
    name: str | None = None,
) -> Path:
    """A SentencePiece model. With ``pad`` the T5 layout (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, no BOS); without
    it the Llama layout (``<unk>`` 0, ``<s>`` 1, ``</s>`` 2, no pad). User-defined symbols are matched
    wherever their text occurs; control symbols are never produced from text."""
    import sentencepiece as spm

    # T5: <pad> 0, </s> 1, <unk> 2, no BOS; Llama: <unk> 0, <s> 1, </s> 2, no pad
    pad_id, eos_id, unk_id, bos_id = (0, 1, 2, -1) if pad else (-1, 2, 0, 1)
    prefix = Path(directory) / (name or f"sp-{model_type}-{'pad' if pad else 'nopad'}")
    Path(directory).mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_lines(60_000)),
        model_prefix=str(prefix),
        model_type=model_type,
        vocab_size=vocab_size,
        byte_fallback=byte_fallback,
        user_defined_symbols=list(user_defined_symbols),
        control_symbols=list(control_symbols),
        character_coverage=1.0,
        num_threads=1,  # one thread: the same model on every machine
        minloglevel=2,
        pad_id=pad_id,
        eos_id=eos_id,
        unk_id=unk_id,
        bos_id=bos_id,
    )
    return prefix.with_suffix(".model")


def _save(tok: tokenizers.Tokenizer, directory: str | Path, file: str) -> Path:
    path = Path(directory) / file
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path
