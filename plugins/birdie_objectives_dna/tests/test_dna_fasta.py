"""The `fasta` source: the shipped genomes, windows and runs of N against a plain reference, sharding,
streaming with bounded memory, and bad input named by file, record and line."""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from birdie_objectives_dna.fasta import FastaError, scan_fasta
from birdie_objectives_dna.genomes import GENOMES, genome_path
from birdie_objectives_dna.source import FastaSource, windows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birdie_core.errors import ConfigError
from birdie_core.interfaces import Shard

from .support import LAMBDA, write_fasta


def source(**kw) -> FastaSource:
    return FastaSource(FastaSource.Config(name="fasta", **kw))


def records_of(path) -> dict[str, str]:
    out: dict[str, list[bytes]] = {}
    current = None
    for event in scan_fasta(str(path)):
        if event[0] == "record":
            current = event[1].id
            out[current] = []
        elif event[0] == "bases":
            out[current].append(event[1])
    return {k: b"".join(v).decode() for k, v in out.items()}


# -- the shipped genomes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(GENOMES))
def test_shipped_genomes_are_the_refseq_records(name):
    genome = GENOMES[name]
    ((ident, seq),) = records_of(genome_path(name)).items()
    assert ident == genome.accession
    assert len(seq) == genome.length
    assert hashlib.sha256(seq.encode()).hexdigest() == genome.sha256
    assert set(seq) == set("ACGT")
    readme = (Path(genome_path(name)).parent / "README.md").read_text()
    assert genome.accession in readme and genome.sha256 in readme and "bacphlip==0.9.6" in readme


def test_builtin_windows_cover_both_genomes():
    src = source(builtin=["lambda", "t7"], window=1000)
    docs = list(src.documents())
    assert [d.index for d in docs] == list(range(len(docs)))
    assert docs[0].origin.endswith("lambda.fasta.gz NC_001416.1:1-1000")
    assert docs[0].text == LAMBDA[:1000]
    by_record = {"NC_001416.1": set(), "NC_001604.1": set()}
    for d in docs:
        m = re.search(r" (\S+):(\d+)-(\d+)$", d.origin)
        by_record[m[1]].update(range(int(m[2]) - 1, int(m[3])))
        assert len(d.text) == int(m[3]) - int(m[2]) + 1
    assert len(by_record["NC_001416.1"]) == 48_502 and len(by_record["NC_001604.1"]) == 39_937
    assert src.stats["short_stretches"] == 0 and src.stats["bases"] == 48_502 + 39_937


# -- windows and runs of N against a plain reference -------------------------------------------------------
def reference_windows(
    seq: str, window: int, overlap: int, max_n_run: int, min_length: int
) -> list[tuple[int, str]]:
    """The documented behaviour, written the obvious way."""
    n_like = [c.upper() not in "ACGT" for c in seq]
    stretches, start, i = [], None, 0
    while i < len(seq):
        if n_like[i]:
            j = i
            while j < len(seq) and n_like[j]:
                j += 1
            if j - i > max_n_run:
                if start is not None:
                    stretches.append((start, i))
                start = None
            elif start is None:
                start = i
            i = j
        else:
            if start is None:
                start = i
            i += 1
    if start is not None:
        stretches.append((start, len(seq)))
    out = []
    stride = window - overlap
    for s, e in stretches:
        if e - s < min_length:
            continue
        k = 0
        while True:
            a = s + k * stride
            if k and a + overlap >= e:
                break
            b = min(a + window, e)
            if b - a < min_length and k:
                a, b = e - window, e
            out.append((a, seq[a:b]))
            if b >= e:
                break
            k += 1
    return out


dna = st.lists(
    st.one_of(
        st.builds(lambda i, n: LAMBDA[i : i + n], st.integers(0, 40000), st.integers(1, 300)),
        st.integers(1, 30).map(lambda n: "N" * n),
        st.sampled_from(["n", "R", "y", "acgt", "NnRN"]),
    ),
    min_size=1,
    max_size=10,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seqs=st.lists(dna, min_size=1, max_size=3),
    window=st.integers(4, 200),
    overlap_frac=st.floats(0, 0.9),
    max_n_run=st.sampled_from([0, 1, 5, 20]),
    min_length=st.integers(1, 20),
    width=st.sampled_from([0, 7, 60]),
    chunk=st.sampled_from([1, 5, 64, 1 << 20]),
    crlf=st.booleans(),
)
def test_windows_match_the_reference(
    tmp_path, seqs, window, overlap_frac, max_n_run, min_length, width, chunk, crlf
):
    overlap = min(int(window * overlap_frac), window - 1)
    min_length = min(min_length, window)
    path = write_fasta(
        tmp_path / "x.fa",
        [(f"r{i} some description", s) for i, s in enumerate(seqs)],
        width,
        "\r\n" if crlf else "\n",
    )
    got = [
        (w.record.id, w.start, w.data.decode())
        for w in windows(str(path), window, overlap, max_n_run, min_length, chunk_size=chunk)
    ]
    want = [
        (f"r{i}", a, text)
        for i, s in enumerate(seqs)
        for a, text in reference_windows(s, window, overlap, max_n_run, min_length)
    ]
    assert got == want


def test_runs_of_n_are_cut_and_counted(tmp_path, caplog):
    seq = LAMBDA[:500] + "N" * 100 + LAMBDA[500:700] + "NN" + LAMBDA[700:705] + "N" * 40
    path = write_fasta(tmp_path / "n.fa", [("chr1", seq)])
    with caplog.at_level(logging.WARNING):
        docs = list(source(paths=[str(path)], window=256, max_n_run=0, min_length=16).documents())
    assert all("N" not in d.text for d in docs)
    src = source(paths=[str(path)], window=256, max_n_run=0, min_length=16)
    list(src.documents())
    assert src.stats["n_runs_cut"] == 3 and src.stats["n_bases_cut"] == 142
    assert src.stats["short_stretches"] == 1 and src.stats["short_bases"] == 5  # the 5 bases between runs
    assert "3 runs of more than 0 N cut out" in caplog.text and "n.fa" in caplog.text
    kept = list(source(paths=[str(path)], window=256, max_n_run=2).documents())
    assert any("NN" in d.text for d in kept) and all("NNN" not in d.text for d in kept)


def test_soft_mask_and_ambiguity_codes_are_kept_and_counted(tmp_path, caplog):
    path = write_fasta(tmp_path / "s.fa.gz", [("c", "ACGTacgtRYkmACGT" * 4)])
    src = source(paths=[str(path)], window=64, max_n_run=100)
    with caplog.at_level(logging.WARNING):
        (doc,) = list(src.documents())
    assert doc.text == "ACGTacgtRYkmACGT" * 4  # the tokenizer decides what they become
    assert src.stats["soft_masked"] == 24 and src.stats["ambiguous"] == 16
    assert "16 IUPAC ambiguity codes read as N" in caplog.text


def test_validation_split_and_rc_augmentation(tmp_path):
    train = list(source(builtin=["lambda"], window=500, validation_every=10).documents())
    val = list(source(builtin=["lambda"], window=500, validation_every=10, split="validation").documents())
    assert len(train) + len(val) == 98 and len(val) == 10
    assert val[0].text == LAMBDA[:500] and train[0].text == LAMBDA[500:1000]
    assert [d.index for d in val] == list(range(10))
    assert not {d.text for d in train} & {d.text for d in val}
    plain = list(source(builtin=["lambda"], window=500).documents())
    aug = source(builtin=["lambda"], window=500, rc_augment=0.5)
    a0, a0_again, a1 = (list(aug.documents(Shard(), e)) for e in (0, 0, 1))
    assert [d.text for d in a0] == [d.text for d in a0_again]  # deterministic
    from birdie_objectives_dna.alphabet import reverse_complement_text

    flipped = [d.text != p.text for d, p in zip(a0, plain)]
    assert all(d.text in (p.text, reverse_complement_text(p.text)) for d, p in zip(a0, plain))
    assert 0.25 < np.mean(flipped) < 0.75 and [d.text for d in a1] != [d.text for d in a0]


# -- sharding ---------------------------------------------------------------------------------------------------
def test_two_ranks_times_two_workers_cover_every_window_exactly_once(tmp_path):
    path = write_fasta(
        tmp_path / "g.fa.gz", [("a", LAMBDA[:30000]), ("b", LAMBDA[30000:] + "N" * 50 + LAMBDA[:999])]
    )
    cfg = {"paths": [str(path)], "builtin": ["t7"], "window": 700, "overlap": 100}
    whole = {d.index: (d.text, d.origin) for d in source(**cfg).documents()}
    seen: dict[int, tuple[str, str]] = {}
    for rank in range(2):
        for worker in range(2):
            shard = Shard(rank * 2 + worker, 4)  # what the loader gives rank r, worker w
            for d in source(**cfg).documents(shard):
                assert shard.owns(d.index) and d.index not in seen
                seen[d.index] = (d.text, d.origin)
    assert seen == whole and sorted(whole) == list(range(len(whole)))


# -- streaming ----------------------------------------------------------------------------------------------------
def test_a_large_gzip_genome_is_streamed_with_bounded_memory(tmp_path):
    """40 Mb in two records, one wrapped, one on a single 20 MB line: the reader holds a few MiB at most."""
    rng = np.random.default_rng(0)
    bases = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 20_000_000)].tobytes()
    path = tmp_path / "big.fa.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b">wrapped\n")
        for i in range(0, len(bases), 80):
            f.write(bases[i : i + 80] + b"\n")
        f.write(b">one_line\n" + bases[::-1] + b"\n")
    tracemalloc.start()
    try:
        n = total = 0
        for w in windows(str(path), 4096):
            n += 1
            total += len(w.data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 40_000_000 and n == 2 * -(-20_000_000 // 4096)
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB while reading a 40 Mb genome"


# -- bad input: every error names the file, the record and the line --------------------------------------------
def read_all(path) -> None:
    for _ in windows(str(path), 100):
        pass


BAD = {
    "empty": (b"", r"empty FASTA file: no record"),
    "blank lines only": (b"\n\n  \n", r"empty FASTA file: no record"),
    "no header": (b"ACGTACGT\nACGT\n", r":1: sequence before the first header.*'ACGTACGT'"),
    "fastq": (b"@read1\nACGT\n+\nIIII\n", r":1: sequence before the first header.*FASTQ"),
    "header with no sequence": (
        b">a\nACGT\n>empty one\n>c\nACGT\n",
        r":3: record 'empty' has a header but no sequence \(the next header follows on line 4\)",
    ),
    "last header with no sequence": (
        b">a\nACGT\n\n>b desc\n",
        r":4: record 'b' has a header but no sequence \(the file ends\)",
    ),
    "header with no name": (b">a\nACGT\n>\nACGT\n", r":3: a header line with no identifier"),
    "protein": (
        b">sp|P69905|HBA_HUMAN Hemoglobin\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF\n",
        r":2:3: record 'sp\|P69905\|HBA_HUMAN' \(header on line 1\): 'L' .*protein FASTA",
    ),
    "rna": (b">x\nACGU\n", r":2:4: record 'x' \(header on line 1\): 'U' \(uracil\).*RNA"),
    "gap": (b">x\nACGT\nAC-GT\n", r":3:3: record 'x' \(header on line 1\): '-' is an alignment gap"),
    "binary": (
        b">x\nACGT\r\nAC\xc3\xa9GT\r\n",
        r":3:3: record 'x' \(header on line 1\): byte 0xc3 is not ASCII",
    ),
    "bad in second record": (
        b">a\nACGT\n>b\nACGT\nACGT\nAC*T\n",
        r":6:3: record 'b' \(header on line 3\): '\*' is not a nucleotide but an amino-acid letter",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_bad_input_is_an_error_naming_file_record_and_line(tmp_path, case, gz):
    data, pattern = BAD[case]
    path = tmp_path / ("bad.fa.gz" if gz else "bad.fa")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(
        FastaError, match=re.escape(str(path)) + ".*" + pattern if pattern[0] == ":" else pattern
    ) as e:
        read_all(path)
    assert str(path) in str(e.value)


def test_windows_line_endings_are_read_like_unix_ones(tmp_path):
    records = [("a first", LAMBDA[:1000]), ("b", LAMBDA[1000:1500])]
    unix = write_fasta(tmp_path / "u.fa", records)
    dos = write_fasta(tmp_path / "d.fa.gz", records, eol="\r\n")
    assert records_of(unix) == records_of(dos) == {"a": LAMBDA[:1000], "b": LAMBDA[1000:1500]}


def test_truncated_gzip_names_file_record_and_line(tmp_path):
    path = write_fasta(tmp_path / "t.fa.gz", [("first", LAMBDA[:20000]), ("second", LAMBDA[20000:])])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(
        FastaError,
        match=r"t\.fa\.gz: the gzip stream is truncated or corrupt after line \d+ in "
        r"record 'second' \(header on line 336\)",
    ):
        read_all(path)


def test_other_compressions_are_refused(tmp_path):
    import bz2

    path = tmp_path / "x.fa"
    path.write_bytes(bz2.compress(b">a\nACGT\n"))
    with pytest.raises(FastaError, match=r"x\.fa: this is a bzip2 file"):
        read_all(path)
    (tmp_path / "y.fa.bz2").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"paths\[0\].*only gzip"):
        source(paths=[str(tmp_path / "y.fa.bz2")])


def test_config_errors_are_reported_with_their_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        source(paths=[str(tmp_path / "missing.fa"), str(tmp_path / "*.fasta"), str(tmp_path)])
    msg = str(e.value)
    assert "paths[0]" in msg and "does not exist" in msg
    assert "paths[1]" in msg and "matches no file" in msg
    assert "paths[2]" in msg and "is a directory" in msg
    from pydantic import ValidationError

    for bad, words in (
        ({}, "give `paths`"),
        ({"builtin": ["lambda"], "overlap": 10, "window": 10}, "overlap"),
        ({"builtin": "mouse"}, "lambda"),
        ({"builtin": "t7", "windw": 3}, "windw"),
    ):
        with pytest.raises(ValidationError, match=words):
            FastaSource.Config(name="fasta", **bad)


def test_globs_expand_in_order_without_duplicates(tmp_path):
    for name in ("b.fa", "a.fa.gz"):
        write_fasta(tmp_path / name, [(name, LAMBDA[:100])])
    src = source(paths=[str(tmp_path / "*.fa*"), str(tmp_path / "b.fa")], builtin="t7")
    assert [Path(p).name for p in src.files] == ["t7.fasta.gz", "a.fa.gz", "b.fa"]
