"""A streaming CSV (SPEC §2.1) as per-machine rows in ``sequence`` order.

The producer must not alter or lose information: every field is kept exactly as
written, only given its proper JSON type. Integer and float columns become JSON
numbers when the text is a plain number that survives the round trip exactly;
anything else (``132K``, ``-``, `` 12``) stays the raw text for the parser to judge.
String columns (POLI, Status, State, CMD) are always the text as written.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pipelines.errors import ParseError
from pipelines.schema.columns import (
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    PASS,
    RUN_ID,
    STREAMING_COLUMNS,
    TS,
    Stream,
)

_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
RESERVED_COLUMNS: frozenset[str] = frozenset({TS, RUN_ID, PASS})
"""Fields the producer adds; a file that already has them would be ambiguous."""


def encode_field(column: str, text: str) -> Any:
    """The JSON value for one CSV field, without changing what it says.

    Args:
        column: the column name (its kind comes from :mod:`pipelines.schema.columns`).
        text: the field exactly as written in the file.

    Returns:
        An ``int`` or ``float`` for a plain number in an integer or float column when
        the number reproduces ``text`` exactly; otherwise ``text`` unchanged.
    """
    if column not in INTEGER_COLUMNS and column not in FLOAT_COLUMNS:
        return text
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        value = float(text)
        # A float that cannot say the same decimal (too many digits, overflow) would
        # change the data: keep the text and let the parser decide.
        try:
            if Decimal(repr(value)) == Decimal(text):
                return value
        except InvalidOperation:
            return text
    return text


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record, encoded once so every pass can reuse it.

    Attributes:
        machine: the machine id (the Kafka key).
        sequence: the row's number within its machine.
        line: the record's line number in the file (the header is line 1).
        fields: every CSV column in file order, JSON-typed.
        body: ``fields`` as compact JSON without the closing brace, so a message
            is ``body`` plus the producer's own fields.
    """

    machine: int
    sequence: int
    line: int
    fields: Mapping[str, Any]
    body: str


@dataclass(frozen=True)
class StreamRows:
    """A streaming file's rows grouped by machine.

    Attributes:
        path: the file read.
        stream: ``process`` or ``memory``.
        columns: the file's header (the schema's columns, plus any extra ones).
        machines: machine id → its rows in ascending ``sequence`` order.
        skipped: the bad rows left out, in file order.
    """

    path: Path
    stream: Stream
    columns: tuple[str, ...]
    machines: Mapping[int, Sequence[Row]]
    skipped: Sequence[ParseError] = ()
    """Bad rows left out (``skip_bad_rows=True``), each naming file, line and column."""

    @property
    def row_counts(self) -> dict[int, int]:
        """Rows per machine."""
        return {machine: len(rows) for machine, rows in self.machines.items()}

    @property
    def total_rows(self) -> int:
        return sum(len(rows) for rows in self.machines.values())


def _identity_number(text: str, column: str, source: str, line: int) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise ParseError(
            "must be a whole number (it identifies the record)",
            source=source,
            line=line,
            column=column,
            value=text,
        )
    return int(text.strip())


def _check_header(header: list[str], stream: Stream, source: str) -> None:
    expected = STREAMING_COLUMNS[stream]
    missing = [c for c in expected if c not in header]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(missing)}; a {stream} streaming file has "
            f"{', '.join(expected)}",
            source=source,
            line=1,
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ParseError(f"column(s) {', '.join(duplicated)} appear twice", source=source, line=1)
    reserved = sorted(RESERVED_COLUMNS.intersection(header))
    if reserved:
        raise ParseError(
            f"column(s) {', '.join(reserved)} are added by the producer and must not be in "
            "a streaming file",
            source=source,
            line=1,
        )


def _width_error(
    header: Sequence[str], values: Sequence[str], source: str, line: int
) -> ParseError:
    """A record with too few fields names the first missing column; with too many, the
    first extra one by its position (it has no name)."""
    width = len(header)
    column = header[len(values)] if len(values) < width else f"#{width + 1} (past the header)"
    return ParseError(
        f"expected {width} fields, found {len(values)}", source=source, line=line, column=column
    )


def _not_utf8(header: Sequence[str], values: Sequence[str], source: str, line: int) -> None:
    # The file is read with errors="surrogateescape": an invalid byte becomes a lone
    # surrogate, so the bad field (not only the line) can be named.
    for name, text in zip(header, values, strict=False):
        if any("\udc80" <= char <= "\udcff" for char in text):
            shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise ParseError("not UTF-8 text", source=source, line=line, column=name, value=shown)


def _parse_row(
    header: Sequence[str],
    values: list[str],
    source: str,
    line: int,
    first_line: dict[tuple[int, int], int],
) -> Row:
    """One record of the file, or the ParseError naming its line and column."""
    if len(values) != len(header):
        raise _width_error(header, values, source, line)
    _not_utf8(header, values, source, line)
    machine = _identity_number(values[header.index("machine")], "machine", source, line)
    sequence = _identity_number(values[header.index("sequence")], "sequence", source, line)
    seen = first_line.setdefault((machine, sequence), line)
    if seen != line:
        raise ParseError(
            f"machine {machine} sequence {sequence} already appeared on line {seen}",
            source=source,
            line=line,
            column="sequence",
        )
    fields = {name: encode_field(name, text) for name, text in zip(header, values, strict=True)}
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)[:-1]
    return Row(machine=machine, sequence=sequence, line=line, fields=fields, body=body)


def load_stream_rows(
    path: Path | str, stream: Stream, *, skip_bad_rows: bool = False
) -> StreamRows:
    """Read a streaming CSV into per-machine rows sorted by ``sequence``.

    Args:
        path: a ``Streaming_Linux_process.csv`` / ``Streaming_Linux_memory.csv`` file
            (or any CSV with the stream's columns; extra columns are kept as text).
        stream: which schema the file follows.
        skip_bad_rows: leave out bad records (listed in ``StreamRows.skipped``) instead
            of stopping at the first one. A bad header or a file without any good
            record still stops the run.

    Raises:
        ParseError: naming file, line and column: missing file or columns, a record
            with the wrong number of fields (the first missing column, or the first
            extra one's position), a field that is not UTF-8, a non-integer
            ``machine``/``sequence``, a ``(machine, sequence)`` seen twice, a line the
            CSV reader refuses (a field over its size limit), or no records at all.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ParseError("no such file", source=source)
    by_machine: dict[int, list[Row]] = {}
    first_line: dict[tuple[int, int], int] = {}
    skipped: list[ParseError] = []
    # utf-8-sig: spreadsheet exports start with a byte-order mark that would
    # otherwise become part of the first column's name.
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ParseError(f"malformed CSV: {exc}", source=source, line=1) from None
        if header is None:
            raise ParseError("empty file (no header)", source=source, line=1)
        header = [name.strip() for name in header]
        _not_utf8(header, header, source, 1)
        _check_header(header, stream, source)
        while True:
            try:
                values = next(reader, None)
            except csv.Error as exc:
                # The reader has consumed the bad line and can go on with the next.
                error = ParseError(f"malformed CSV: {exc}", source=source, line=reader.line_num)
                if not skip_bad_rows:
                    raise error from None
                skipped.append(error)
                continue
            if values is None:
                break
            if not values:
                continue  # a blank line carries no record
            try:
                row = _parse_row(header, values, source, reader.line_num, first_line)
            except ParseError as error:
                if not skip_bad_rows:
                    raise
                skipped.append(error)
                continue
            by_machine.setdefault(row.machine, []).append(row)
    if not by_machine:
        reason = "no records after the header"
        if skipped:
            reason += f" ({len(skipped)} bad rows skipped, the first: {skipped[0]})"
        raise ParseError(reason, source=source, line=2)
    machines = {
        machine: tuple(sorted(rows, key=lambda row: row.sequence))
        for machine, rows in sorted(by_machine.items())
    }
    return StreamRows(
        path=path, stream=stream, columns=tuple(header), machines=machines, skipped=tuple(skipped)
    )
