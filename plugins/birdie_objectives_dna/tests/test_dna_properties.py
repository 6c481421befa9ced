"""Properties of the DNA objectives on random DNA (hypothesis): reverse complements, spans, blocks, motifs,
and the rule that runs of N never become targets."""

from __future__ import annotations

import numpy as np
import pytest
from birdie_objectives_dna.alphabet import AMBIGUITY_CODES, Alphabet, reverse_complement_text
from birdie_objectives_dna.objectives import (
    KmerDeshuffling,
    MotifSelectiveCopying,
    NucleotideAutoencoding,
    NucleotideInfilling,
    ReverseComplement,
)
from birdie_objectives_dna.objectives._base import clean_stretch
from birdie_objectives_dna.objectives.deshuffling import block_order
from birdie_objectives_dna.objectives.selective_copying import find_motif
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birdie_core.interfaces import TOKEN_DTYPE, ObjectiveContext
from birdie_core.tools.noise import noise_mask_avoiding, random_spans, splice_sentinel_targets

from .support import LAMBDA, nucleotide

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
START = "<|gen|>"
MARKERS = (START, "[MASK]", "[COPY]", "[START]", "[END]", "[CONTEXT]", "[DONE]")

# -- strategies ----------------------------------------------------------------------------------------------
real_piece = st.builds(lambda i, n: LAMBDA[i : i + n], st.integers(0, len(LAMBDA) - 600), st.integers(1, 600))
n_run = st.integers(1, 40).map(lambda n: "N" * n)
odd = st.sampled_from(["n", "nn", "R", "y", *AMBIGUITY_CODES])
dna_text = st.lists(st.one_of(real_piece, real_piece.map(str.lower), n_run, odd), min_size=1, max_size=8).map(
    "".join
)
iupac_text = st.text(alphabet="ACGTNacgtn" + AMBIGUITY_CODES + AMBIGUITY_CODES.lower(), max_size=300)


def run(objective, text: str, budget: int, seed: int, keep_soft_mask: bool = False):
    tok = nucleotide(MARKERS, keep_soft_mask=keep_soft_mask)
    tokens = tok.encode(text)
    ctx = ObjectiveContext(tokenizer=tok, rng=np.random.default_rng(seed), start_id=tok.special_id(START))
    example, rest = objective.build(tokens, budget, ctx)
    return tok, tokens, example, rest


def body(example) -> np.ndarray:
    return example.prefix[:-1]  # no paradigm in these tests: the prefix is the body + the start marker


def assert_no_n(tok, ids: np.ndarray) -> None:
    ordinary = ids[~tok.is_special(ids)]
    assert not tok.alphabet.n_mask(ordinary).any(), f"an N in a target: {tok.decode(ids)}"


# -- reverse complement ----------------------------------------------------------------------------------------
@PROPS
@given(text=iupac_text)
def test_reverse_complement_is_an_involution_on_text(text):
    assert reverse_complement_text(reverse_complement_text(text)) == text
    assert len(reverse_complement_text(text)) == len(text)


@PROPS
@given(text=iupac_text, soft=st.booleans())
def test_reverse_complement_is_an_involution_on_ids(text, soft):
    tok = nucleotide(keep_soft_mask=soft)
    ids = tok.encode(text)
    rc = tok.alphabet.reverse_complement(ids)
    assert np.array_equal(tok.alphabet.reverse_complement(rc), ids)
    # ids agree with text: the RC of the ids is the ids of the RC (ambiguity codes are N on both sides)
    assert np.array_equal(rc, tok.encode(reverse_complement_text(text)))


def test_reverse_complement_examples():
    assert reverse_complement_text("ACGTN") == "NACGT"
    assert reverse_complement_text("aaCCgT") == "AcGGtt"
    assert reverse_complement_text("RYKMSWBDHV") == "BDHVWSKMRY"
    tok = nucleotide(keep_soft_mask=True)
    assert tok.decode(tok.alphabet.reverse_complement(tok.encode("GATTACAn"))) == "nTGTAATC"


@PROPS
@given(
    text=dna_text,
    budget=st.integers(8, 1024),
    seed=st.integers(0, 2**32 - 1),
    rc=st.sampled_from([0.0, 1.0]),
    soft=st.booleans(),
)
def test_reverse_complement_target_is_the_complement_of_the_reversed_input(text, budget, seed, rc, soft):
    obj = ReverseComplement(ReverseComplement.Config(name="reverse_complement", rc_augment=rc))
    tok, tokens, example, _ = run(obj, text, budget, seed, keep_soft_mask=soft)
    if example is None:
        return
    inp = body(example)
    assert tok.decode(example.target) == reverse_complement_text(tok.decode(inp))
    window = tokens[
        example.consumed - inp.shape[0] : example.consumed
    ]  # the window ends where consumption ends
    expected = tok.alphabet.reverse_complement(window) if rc else window
    assert np.array_equal(inp, expected)
    assert_no_n(tok, example.target)


# -- N never in a target ---------------------------------------------------------------------------------------
ALL = [
    NucleotideInfilling(NucleotideInfilling.Config(name="infilling", corruption_rate=0.5, mean_span=8)),
    NucleotideInfilling(NucleotideInfilling.Config(name="infilling", rc_augment=0.5)),
    NucleotideAutoencoding(NucleotideAutoencoding.Config(name="autoencoding", shuffle_spans=True)),
    ReverseComplement(ReverseComplement.Config(name="reverse_complement")),
    MotifSelectiveCopying(MotifSelectiveCopying.Config(name="selective_copying", rc_augment=0.5)),
    KmerDeshuffling(KmerDeshuffling.Config(name="deshuffling", block=4)),
]


@pytest.mark.parametrize("objective", ALL, ids=lambda o: f"{o.config.name}")
@PROPS
@given(text=dna_text, budget=st.integers(1, 1024), seed=st.integers(0, 2**32 - 1))
def test_no_target_position_is_n(objective, text, budget, seed):
    tok, _, example, _ = run(objective, text, budget, seed)
    if example is not None:
        assert_no_n(tok, example.target)


def test_a_document_of_n_makes_no_example_and_is_handed_back():
    for obj in ALL:
        _, tokens, example, rest = run(obj, "N" * 500, 512, 0)
        assert example is None and rest is tokens


# -- infilling spans ------------------------------------------------------------------------------------------
@PROPS
@given(
    text=dna_text,
    budget=st.integers(8, 1024),
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([0.05, 0.15, 0.5]),
    mean=st.sampled_from([8, 16, 32, 64]),
)
def test_infilling_splices_back_and_no_span_touches_n(text, budget, seed, rate, mean):
    obj = NucleotideInfilling(
        NucleotideInfilling.Config(name="infilling", corruption_rate=rate, mean_span=mean)
    )
    tok, tokens, example, _ = run(obj, text, budget, seed)
    if example is None:
        return
    sentinels = tok.sentinel_ids()
    inp, target = body(example), example.target
    window = tokens[: example.consumed]
    assert np.array_equal(splice_sentinel_targets(inp, target, sentinels), window)
    used = target[np.isin(target, sentinels)]
    assert np.array_equal(used, sentinels[: used.shape[0]]), "sentinels are used in order"
    assert np.isin(target[0], sentinels)
    assert_no_n(tok, target)


@PROPS
@given(length=st.integers(2, 400), seed=st.integers(0, 10_000), density=st.floats(0.0, 0.6))
def test_noise_kept_out_of_n_never_adds_spans(length, seed, density):
    rng = np.random.default_rng(seed)
    spans = random_spans(length, 0.3, 8, rng)
    forbidden = rng.random(length) < density
    mask = noise_mask_avoiding(spans, forbidden)
    assert not (mask & forbidden).any()
    assert not (mask & ~spans.mask()).any(), "noise only where there was noise"
    runs = np.flatnonzero(np.diff(mask.astype(np.int8), prepend=0) == 1).shape[0]
    assert runs <= spans.num_spans


# -- autoencoding -----------------------------------------------------------------------------------------------
@PROPS
@given(text=dna_text, budget=st.integers(8, 1024), seed=st.integers(0, 2**32 - 1))
def test_autoencoding_target_is_the_n_free_window_and_the_input_keeps_its_order(text, budget, seed):
    obj = NucleotideAutoencoding(NucleotideAutoencoding.Config(name="autoencoding", corruption_rate=0.3))
    tok, tokens, example, _ = run(obj, text, budget, seed)
    if example is None:
        return
    target = example.target
    assert np.array_equal(target, tokens[example.consumed - target.shape[0] : example.consumed])
    marker = tok.special_id("[MASK]")
    kept = body(example)[body(example) != marker]
    # the kept bases are a subsequence of the target, in order
    it = iter(target.tolist())
    assert all(any(x == y for y in it) for x in kept.tolist())
    assert_no_n(tok, target)


# -- deshuffling ------------------------------------------------------------------------------------------------
@PROPS
@given(
    text=dna_text,
    budget=st.integers(8, 1024),
    seed=st.integers(0, 2**32 - 1),
    block=st.sampled_from([1, 3, 8, 16]),
    fraction=st.sampled_from([0.3, 0.5, 1.0]),
)
def test_deshuffling_input_is_a_permutation_of_the_target_blocks(text, budget, seed, block, fraction):
    obj = KmerDeshuffling(KmerDeshuffling.Config(name="deshuffling", block=block, fraction=fraction))
    tok, tokens, example, _ = run(obj, text, budget, seed)
    if example is None:
        return
    inp, target = body(example), example.target
    assert inp.shape == target.shape and target.shape[0] % block == 0 and target.shape[0] >= 2 * block
    blocks_in = sorted(map(tuple, inp.reshape(-1, block).tolist()))
    blocks_out = sorted(map(tuple, target.reshape(-1, block).tolist()))
    assert blocks_in == blocks_out
    assert np.array_equal(target, tokens[example.consumed - target.shape[0] : example.consumed])
    assert_no_n(tok, target)


@PROPS
@given(n=st.integers(0, 200), fraction=st.floats(0.01, 1.0), seed=st.integers(0, 10_000))
def test_block_order_is_a_permutation_and_never_the_identity(n, fraction, seed):
    order = block_order(n, fraction, np.random.default_rng(seed))
    assert sorted(order.tolist()) == list(range(n))
    if n >= 2:
        assert not np.array_equal(order, np.arange(n))
        moved = np.count_nonzero(order != np.arange(n))
        assert moved <= max(2, round(n * fraction))


# -- selective copying ------------------------------------------------------------------------------------------
@PROPS
@given(text=dna_text, budget=st.integers(64, 1500), seed=st.integers(0, 2**32 - 1))
def test_every_motif_query_has_exactly_its_answer(text, budget, seed):
    obj = MotifSelectiveCopying(
        MotifSelectiveCopying.Config(name="selective_copying", instruction_at_end=0.5)
    )
    tok, tokens, example, _ = run(obj, text, budget, seed)
    if example is None:
        return
    ids = {m: tok.special_id(m) for m in MARKERS}
    b = body(example)
    c_at = int(np.flatnonzero(b == ids["[CONTEXT]"])[0])
    copies = np.flatnonzero(b == ids["[COPY]"])
    context_end = copies[0] if copies[0] > c_at else b.shape[0]
    context = b[c_at + 1 : context_end]
    assert np.array_equal(context, tokens[example.consumed - context.shape[0] : example.consumed])
    answers = np.split(example.target, np.flatnonzero(example.target == ids["[DONE]"]) + 1)[:-1]
    assert len(answers) == copies.shape[0] >= 1
    for q, answer in zip(copies, answers):
        s, e = q + 2, int(np.flatnonzero(b[q:] == ids["[END]"])[0]) + q
        nxt = [p for p in np.flatnonzero(tok.is_special(b)) if p > e]
        end_kmer = b[e + 1 : nxt[0] if nxt else b.shape[0]]
        got = find_motif(context, b[s:e], end_kmer)
        assert got is not None and np.array_equal(np.append(got, ids["[DONE]"]), answer)
        assert 8 <= got.shape[0] <= 32
    assert_no_n(tok, example.target)


# -- the N-free stretch ----------------------------------------------------------------------------------------
@PROPS
@given(text=dna_text, want=st.integers(8, 600), minimum=st.integers(1, 64))
def test_clean_stretch_is_n_free_and_within_bounds(text, want, minimum):
    tok = nucleotide()
    tokens = tok.encode(text)
    got = clean_stretch(tokens, want, minimum, tok.alphabet)
    if got is None:
        return
    s, e = got
    assert minimum <= e - s <= want and 0 <= s and e <= tokens.shape[0]
    assert not tok.alphabet.n_mask(tokens[s:e]).any()


def test_alphabet_of_a_byte_tokenizer_is_derived_and_a_bpe_one_refused():
    from birdie_core.builtins.tokenizers import ByteTokenizer

    tok = ByteTokenizer(None, [START])
    alpha = Alphabet.of(tok)
    ids = tok.encode("ACGTNRacgt")
    assert tok.decode(alpha.reverse_complement(ids)) == reverse_complement_text("ACGTNRacgt")
    assert alpha.n_mask(ids).tolist() == [False] * 4 + [True, True] + [False] * 4

    class Merging:
        vocab_size = 100

        def encode(self, text):
            return np.arange(max(1, len(text) // 2), dtype=TOKEN_DTYPE) + 1

    from birdie_core.errors import PipelineError

    with pytest.raises(PipelineError, match="one id per nucleotide"):
        Alphabet.of(Merging())
