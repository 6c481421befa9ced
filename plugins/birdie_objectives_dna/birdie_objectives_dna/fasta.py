"""Reading FASTA as a stream: :func:`scan_fasta` checks every byte and names file, record and line.

The file (plain or gzip, recognised by its first bytes) is read in chunks of 1 MiB and never held whole: a
3 GB genome — wrapped at 60 or 80 columns, or all on one line — is read with a few MiB of memory. Within a
chunk everything is vectorised (``bytes.translate`` drops line breaks, one table look-up classifies the bases).

What counts as a nucleotide is :data:`~birdie_objectives_dna.alphabet.BYTE_KIND`; whitespace is layout
(``\\r\\n`` line endings are read like ``\\n``). Bad input stops the stream with a :class:`FastaError` whose
message starts ``file:line[:column]`` and names the record:

- an empty file (or only blank lines): no record;
- sequence before the first header (no header at all, a FASTQ or GenBank file);
- a header with no identifier, or a record with no sequence;
- a byte that is not a nucleotide (a protein FASTA is recognised by its amino-acid letters; RNA, gaps and
  digits get their own hint);
- a truncated or corrupt gzip stream, and bzip2 / xz / zstd / zip files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from birdie_core import PipelineError
from birdie_core.tools import GZIP_ERRORS, open_compressed
from birdie_objectives_dna.alphabet import BYTE_KIND, WHITESPACE, describe_invalid

__all__ = ["CHUNK_SIZE", "FastaError", "Record", "scan_fasta"]

CHUNK_SIZE = 1 << 20
#: a header line longer than this is not a FASTA header (a binary file, or sequence after a stray '>')
MAX_HEADER = 1 << 16

_IS_WHITESPACE = np.zeros(256, dtype=bool)
_IS_WHITESPACE[list(WHITESPACE)] = True


class FastaError(PipelineError):
    """A FASTA file cannot be read; the message names the file, the record and the line."""


@dataclass(frozen=True, slots=True)
class Record:
    """One FASTA record's header."""

    id: str  # the header up to the first whitespace
    description: str  # the whole header line without '>'
    line: int  # 1-based line of the header
    number: int  # 1-based position of the record in its file


def _where(record: Record | None) -> str:
    return f" in record {record.id!r} (header on line {record.line})" if record else ""


def scan_fasta(path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple]:
    """Events of one FASTA file, in order, checking everything on the way:

    - ``("record", Record)`` at each header;
    - ``("bases", clean, kinds)``: the next bases of the current record (``bytes`` without line breaks) and
      their :data:`BYTE_KIND` classes (uint8 array), one event per chunk read;
    - ``("end", Record, length)`` after the last base of a record.

    Raises :class:`FastaError` on bad input (see the module docstring).
    """
    line = 1  # line of the next byte
    col = 0  # bytes of that line already read
    at_line_start = True
    in_header = False
    header = bytearray()
    header_line = 0
    record: Record | None = None
    length = 0  # bases of the current record
    number = 0

    def finish_header() -> Iterator[tuple]:
        nonlocal record, length, number
        if record is not None:
            yield _end(path, record, length, next_line=header_line)
        text = header.decode("utf-8", "replace").rstrip("\r").strip()
        ident = text.split(maxsplit=1)[0] if text else ""
        if not ident:
            raise FastaError(
                f"{path}:{header_line}: a header line with no identifier (just '>'); every record needs a "
                f"name after '>'"
            )
        number += 1
        record, length = Record(ident, text, header_line, number), 0
        yield ("record", record)

    f = open_compressed(path, error=FastaError)  # gzip is recognised by its first bytes, whatever the name
    try:
        while True:
            try:
                # read1: a chunk ends where the decompressor stops, so the bases before a truncation are read
                # (and their line counted) before the error
                data = f.read1(chunk_size)
            except GZIP_ERRORS as e:
                raise FastaError(
                    f"{path}: the gzip stream is truncated or corrupt after line {max(line - (col == 0), 1)}"
                    f"{_where(record)} ({e}); re-create or re-download the file"
                ) from e
            except OSError as e:
                raise FastaError(f"{path}: read error after line {line}{_where(record)} ({e})") from e
            if not data:
                break
            pos, n = 0, len(data)
            while pos < n:
                if in_header:
                    nl = data.find(b"\n", pos)
                    if nl < 0:
                        header += data[pos:]
                        if len(header) > MAX_HEADER:
                            raise FastaError(
                                f"{path}:{header_line}: a header line longer than {MAX_HEADER} bytes: not a "
                                f"FASTA file?"
                            )
                        break
                    header += data[pos:nl]
                    pos = nl + 1
                    in_header, at_line_start, line, col = False, True, line + 1, 0
                    yield from finish_header()
                    continue
                if at_line_start and data[pos] == 0x3E:  # '>'
                    in_header, header_line = True, line
                    header.clear()
                    pos += 1
                    continue
                nxt = data.find(b"\n>", pos)
                end = n if nxt < 0 else nxt + 1
                seg = data[pos:end]
                clean = seg.translate(None, WHITESPACE)
                if clean:
                    if record is None:
                        _no_header(path, seg, line, col)
                    kinds = BYTE_KIND[np.frombuffer(clean, dtype=np.uint8)]
                    if not kinds.all():
                        _invalid(path, record, seg, kinds, line, col)
                    length += len(clean)
                    yield ("bases", clean, kinds)
                newlines = seg.count(b"\n")
                if newlines:
                    line += newlines
                    col = len(seg) - seg.rfind(b"\n") - 1
                else:
                    col += len(seg)
                at_line_start = seg.endswith(b"\n")
                pos = end
    finally:
        f.close()
    if in_header:  # the file ends on a header line without a newline
        line += 1
        yield from finish_header()
    if record is None:
        raise FastaError(f"{path}: empty FASTA file: no record (no line starting with '>')")
    yield _end(path, record, length, next_line=None)


def _end(path: str, record: Record, length: int, next_line: int | None) -> tuple:
    if length == 0:
        after = f"the next header follows on line {next_line}" if next_line else "the file ends"
        raise FastaError(f"{path}:{record.line}: record {record.id!r} has a header but no sequence ({after})")
    return ("end", record, length)


def _no_header(path: str, seg: bytes, line: int, col: int) -> None:
    stripped = seg.lstrip(WHITESPACE)
    skipped = seg[: len(seg) - len(stripped)]
    at = line + skipped.count(b"\n")
    shown = stripped.split(b"\n", 1)[0][:40].decode("utf-8", "replace").rstrip("\r")
    hint = ""
    if shown.startswith("@"):
        hint = " (this looks like FASTQ; convert it to FASTA)"
    elif shown.upper().startswith(("LOCUS", "ID ")):
        hint = " (this looks like a GenBank/EMBL flat file; export it as FASTA)"
    raise FastaError(
        f"{path}:{at}: sequence before the first header: a FASTA file starts with a line '>name' "
        f"(found {shown!r}){hint}"
    )


def _invalid(path: str, record: Record | None, seg: bytes, kinds: np.ndarray, line: int, col: int) -> None:
    k = int(np.argmin(kinds))  # first byte of class INVALID (0) in the cleaned bases
    raw = int(np.flatnonzero(~_IS_WHITESPACE[np.frombuffer(seg, dtype=np.uint8)])[k])
    bad = seg[raw]
    err_line = line + seg.count(b"\n", 0, raw)
    last_nl = seg.rfind(b"\n", 0, raw)
    err_col = raw - last_nl if last_nl >= 0 else col + raw + 1
    what = (
        f"byte 0x{bad:02x} is not ASCII, so not a nucleotide (a binary file?)"
        if bad >= 0x80
        else describe_invalid(chr(bad))
    )
    rec = f"record {record.id!r} (header on line {record.line})" if record else "before any record"
    raise FastaError(f"{path}:{err_line}:{err_col}: {rec}: {what}")
