"""Telemetry CSV files (streaming §2.1 or labelled §2.2) → typed rows or a pandas frame.

The layout (process or memory, streaming or labelled) is read from the header; every
row goes through the Python row parser, so a bad value stops the read with a one-line
:class:`~pipelines.errors.ParseError` naming the file, the line (header = line 1) and
the column, e.g. ``data/x.csv, line 7, column PID: not a number (value '12x')``.

Header rules: every column of the layout must be present (``label`` accepted for
``attack``), in any order; besides them only the record fields ``ts``, ``run_id``,
``pass``, ``attack``/``label``, ``type``, ``sequence`` and ``machine`` may appear (a
recorded stream with its Kafka fields, a streaming file joined with its ground truth).
Blank lines are skipped; CMD values containing commas must be quoted (RFC 4180).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import pandas as pd

from pipelines.errors import ParseError
from pipelines.schema.columns import (
    ATTACK_TYPE,
    LABEL,
    LABELLED_COLUMNS,
    PASS,
    RUN_ID,
    STREAMING_COLUMNS,
    STREAMS,
    TS,
    Stream,
)
from pipelines.schema.fields import FIELDS, Field, Kind, canonical_name, layout_fields
from pipelines.schema.parse import parse_row

Layout = tuple[Stream, bool]
"""(stream, labelled)."""

LAYOUTS: Final[tuple[Layout, ...]] = tuple((s, lab) for lab in (False, True) for s in STREAMS)

OPTIONAL_COLUMNS: Final[frozenset[str]] = frozenset(
    {TS, RUN_ID, PASS, LABEL, ATTACK_TYPE, "sequence", "machine"}
)
"""Record fields a file of any layout may carry besides the layout's own columns."""


def _layout_name(layout: Layout) -> str:
    stream, labelled = layout
    return f"{stream} {'labelled' if labelled else 'streaming'}"


def _header_problem(header: Sequence[str], layout: Layout) -> tuple[str, str] | None:
    """(column, reason) of the first mismatch between a header and a layout, or None."""
    stream, labelled = layout
    expected = LABELLED_COLUMNS[stream] if labelled else STREAMING_COLUMNS[stream]
    seen: set[str] = set()
    for name in header:
        canonical = canonical_name(name)
        if canonical in seen:
            return name, "duplicate column"
        seen.add(canonical)
    for name in expected:
        if name not in seen:
            return name, "missing column"
    for name in header:
        if canonical_name(name) not in expected and canonical_name(name) not in OPTIONAL_COLUMNS:
            return name, "unexpected column"
    return None


def _expected_text(layout: Layout) -> str:
    stream, labelled = layout
    names = LABELLED_COLUMNS[stream] if labelled else STREAMING_COLUMNS[stream]
    return f"the {_layout_name(layout)} layout is {', '.join(names)}"


def layout_of_header(
    header: Sequence[str],
    *,
    stream: Stream | None = None,
    labelled: bool | None = None,
    source: str | None = None,
) -> Layout:
    """Decide (stream, labelled) from a header row, checking it against that layout.

    Args:
        header: the column names of line 1.
        stream: required stream, or None to infer it.
        labelled: required layout kind, or None to infer it (a header with both
            ``sequence``/``machine`` and labels is read as streaming).
        source: file name for the error.

    Raises:
        ParseError: at line 1, naming the first missing, duplicate or unexpected column
            of the closest allowed layout.
    """
    allowed = [
        layout
        for layout in LAYOUTS
        if (stream is None or layout[0] == stream) and (labelled is None or layout[1] == labelled)
    ]
    matching = [layout for layout in allowed if _header_problem(header, layout) is None]
    if matching:
        return matching[0]  # LAYOUTS lists the streaming layouts first

    def overlap(layout: Layout) -> int:
        expected = LABELLED_COLUMNS[layout[0]] if layout[1] else STREAMING_COLUMNS[layout[0]]
        return sum(canonical_name(name) in expected for name in header)

    closest = max(allowed, key=overlap)
    problem = _header_problem(header, closest)
    assert problem is not None
    column, reason = problem
    raise ParseError(
        f"{reason}: not a telemetry header ({_expected_text(closest)})",
        source=source,
        line=1,
        column=column,
    )


def _open_csv(path: Path) -> Any:
    # utf-8-sig: files saved by spreadsheet tools start with a byte-order mark.
    return path.open(encoding="utf-8-sig", newline="")


def detect_layout(path: str | Path) -> Layout:
    """The (stream, labelled) layout of a telemetry CSV, from its header.

    Raises:
        ParseError: empty file or a header matching no layout (line 1, column named).
    """
    source = str(path)
    with _open_csv(Path(path)) as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ParseError("empty file: no header", source=source, line=1)
    return layout_of_header(header, source=source)


def _output_fields(header: Sequence[str], layout: Layout) -> list[Field]:
    stream, labelled = layout
    fields = list(layout_fields(stream, labelled=labelled))
    names = {f.name for f in fields}
    fields += [FIELDS[canonical_name(h)] for h in header if canonical_name(h) not in names]
    return fields


def _typed_rows(
    path: Path, stream: Stream | None, labelled: bool | None
) -> Iterator[tuple[list[Field], dict[str, Any] | None]]:
    """Yield the output fields once (with None), then every typed row."""
    source = str(path)
    with _open_csv(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if not header:
                raise ParseError("empty file: no header", source=source, line=1)
            layout = layout_of_header(header, stream=stream, labelled=labelled, source=source)
            row_fields = list(layout_fields(layout[0], labelled=layout[1]))
            yield _output_fields(header, layout), None
            for values in reader:
                if not values:
                    continue  # a blank line is no record
                line = reader.line_num
                if len(values) != len(header):
                    raise _width_error(header, values, source, line)
                raw = dict(zip(header, values, strict=True))
                yield [], parse_row(row_fields, raw, source=source, line=line)
        except csv.Error as exc:
            raise ParseError(f"malformed CSV: {exc}", source=source, line=reader.line_num) from None
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text: {exc.reason}", source=source) from None


def _width_error(
    header: Sequence[str], values: Sequence[str], source: str, line: int
) -> ParseError:
    if len(values) < len(header):
        return ParseError(
            f"short row: {len(values)} fields, the header has {len(header)}",
            source=source,
            line=line,
            column=header[len(values)],
        )
    return ParseError(
        f"long row: {len(values)} fields, the header has {len(header)} "
        "(a CMD with a comma must be quoted)",
        source=source,
        line=line,
        column=header[-1],
    )


def read_csv_rows(
    path: str | Path, stream: Stream | None = None, *, labelled: bool | None = None
) -> Iterator[dict[str, Any]]:
    """Read a streaming or labelled telemetry CSV into typed rows, lazily.

    Args:
        path: the CSV file (header on line 1).
        stream: ``"process"``/``"memory"``, or None to infer it from the header.
        labelled: True for the TON_IoT training layout, False for the streaming one,
            None to infer it from the header.

    Yields:
        One dict per data row, as :func:`pipelines.schema.parse.parse_streaming_row` /
        ``parse_labelled_row`` return it (``label`` read as ``attack``).

    Raises:
        ParseError: wrong header, short or long row, or bad value: one line naming the
            file, the line number (header = 1) and the column.
    """
    rows = _typed_rows(Path(path), stream, labelled)
    next(rows)
    for _, row in rows:
        assert row is not None
        yield row


def pandas_dtype(field: Field) -> str:
    """pandas dtype of a field: nullable ``Int64`` where ``-`` is allowed, else ``int64``;
    ``float64`` (NaN = missing); ``string`` for categories and text."""
    if field.kind is Kind.INTEGER:
        return "Int64" if field.nullable else "int64"
    if field.kind is Kind.FLOAT:
        return "float64"
    return "string"


def load_frame(
    path: str | Path, stream: Stream | None = None, *, labelled: bool | None = None
) -> pd.DataFrame:
    """Read a telemetry CSV into a typed pandas DataFrame.

    Arguments and errors as :func:`read_csv_rows`. Columns: the layout's in layout order
    (NICE restored), then the header's other record fields; dtypes from
    :func:`pandas_dtype` (NICE is ``Int64``: it is missing when PRI is).
    """
    rows = _typed_rows(Path(path), stream, labelled)
    fields, _ = next(rows)
    columns: dict[str, list[Any]] = {f.name: [] for f in fields}
    for _, row in rows:
        assert row is not None
        for name, values in columns.items():
            values.append(row[name])
    return pd.DataFrame({f.name: pd.Series(columns[f.name], dtype=pandas_dtype(f)) for f in fields})
