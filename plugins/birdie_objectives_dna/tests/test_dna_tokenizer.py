"""The `nucleotide` tokenizer: id layout, soft-masking, ambiguity codes, errors, the Tokenizer protocol."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
from birdie_objectives_dna.alphabet import AMBIGUITY_CODES
from birdie_objectives_dna.tokenizer import NucleotideTokenizer
from hypothesis import given, settings
from hypothesis import strategies as st

from birdie_core.interfaces import PAD_ID, Tokenizer

from .support import LAMBDA, nucleotide

LETTERS = "ACGTN" + AMBIGUITY_CODES


def test_id_layout_follows_the_core():
    tok = nucleotide(["<|gen|>", "[S]"])
    assert isinstance(tok, Tokenizer)
    assert tok.pad_id == PAD_ID == 0
    assert tok.encode("ACGTN").tolist() == [1, 2, 3, 4, 5]
    assert tok.sentinel_ids()[:2].tolist() == [6, 7] and tok.sentinel_ids().shape == (512,)
    assert tok.special_id("<mask_0>") == 6
    assert tok.special_id("<|gen|>") == 6 + 512 and tok.special_id("[S]") == 6 + 513
    assert tok.vocab_size == 6 + 512 + 2
    assert tok.is_special(np.array([0, 1, 5, 6, 519])).tolist() == [True, False, False, True, True]
    assert tok.decode([1, 2, 6, 3, 518, 0]) == "AC<mask_0>G<|gen|><pad>"
    soft = nucleotide(["<|gen|>"], keep_soft_mask=True)
    assert soft.encode("ACGTNacgtn").tolist() == list(range(1, 11))
    assert soft.sentinel_ids()[0] == 11 and soft.vocab_size == 11 + 512 + 1
    with pytest.raises(KeyError, match="was not reserved"):
        tok.special_id("[X]")


def test_soft_masked_bases_are_upper_cased_unless_kept():
    text = "ACGTacgtNn"
    assert nucleotide().decode(nucleotide().encode(text)) == "ACGTACGTNN"
    soft = nucleotide(keep_soft_mask=True)
    assert soft.decode(soft.encode(text)) == text
    tok = nucleotide()
    tok.encode(text)
    assert tok.stats == {"bases": 10, "ambiguous": 0, "soft_masked": 5}


def test_ambiguity_codes_are_read_as_n_counted_and_reported_once(caplog):
    tok = nucleotide(keep_soft_mask=True)
    with caplog.at_level(logging.WARNING):
        ids = tok.encode("ACRYKMSWBDHVryN")
        tok.encode("AAR")
    assert tok.decode(ids) == "AC" + "N" * 10 + "nnN"
    assert tok.stats["ambiguous"] == 13
    assert caplog.text.count("IUPAC ambiguity codes") == 1


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ACGT ACGT", r"offset 4: ' ' is not a nucleotide"),
        ("ACGT\nACGT", r"offset 4: '\\n' is not a nucleotide"),
        ("ACGU", r"offset 3: 'U' \(uracil\).*RNA"),
        ("MVLSPADK", r"offset 2: 'L' is not a nucleotide but an amino-acid letter.*protein"),
        ("AC-GT", r"offset 2: '-' is an alignment gap"),
        ("ACGTé", r"offset 4: 'é'"),
        ("AC1GT", r"offset 2: '1' is a digit"),
    ],
)
def test_anything_else_is_an_error_naming_the_character_and_offset(text, words):
    with pytest.raises(ValueError, match=words):
        nucleotide().encode(text)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=LETTERS + LETTERS.lower(), max_size=200), soft=st.booleans())
def test_round_trip(text, soft):
    tok = nucleotide(keep_soft_mask=soft)
    ids = tok.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert not tok.is_special(ids).any()
    want = "".join(c if c.upper() in "ACGTN" else ("n" if c.islower() else "N") for c in text)
    assert tok.decode(ids) == (want if soft else want.upper())


def test_pickles_with_its_markers_and_counts():
    tok = nucleotide(["<|gen|>", "[R]"], keep_soft_mask=True)
    tok.encode("acgR")
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.special_id("[R]") == tok.special_id("[R]") and clone.vocab_size == tok.vocab_size
    assert clone.stats == tok.stats and clone.keep_soft_mask
    assert np.array_equal(clone.encode(LAMBDA[:100]), tok.encode(LAMBDA[:100]))


def test_encoding_a_megabase_is_vectorised():
    import time

    text = LAMBDA * 20  # ~1 Mb
    tok = nucleotide()
    t = time.perf_counter()
    ids = tok.encode(text)
    assert time.perf_counter() - t < 0.5  # a Python loop per base would take about a second
    assert ids.shape == (len(text),)


def test_config_model():
    cfg = NucleotideTokenizer.Config(name="nucleotide", keep_soft_mask=True, num_sentinels=16)
    tok = NucleotideTokenizer(cfg, ["<|gen|>"])
    assert tok.vocab_size == 11 + 16 + 1 and "keep_soft_mask=True" in repr(tok)
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        NucleotideTokenizer.Config(name="nucleotide", keep_softmask=True)
