"""Python row parser: raw telemetry values (CSV text or JSON values) → typed rows.

The conversion rules (SPEC §2.1) are written once here as small constants; the Spark
expressions in :mod:`pipelines.spark.clean` are built from the same constants and
give identical results (checked on every row of the real sample by the integration tests).

Numbers:

- All whitespace (space, tab, CR, LF, FF, VT) is removed, inside and around: ``" 224.2 M "``
  reads as ``224.2M``.
- ``-`` or an empty value (after removing whitespace) or a null is *missing*: None in a
  nullable numeric field, a parse error in a required one.
- Accepted text: an optional sign, digits with an optional fraction, then either an
  exponent (``1e-05``, as JSON encoders write small floats) or one atop suffix ``K``
  (×1e3), ``M`` (×1e6), ``G`` (×1e9), upper case only as atop prints them. Anything else
  (``12abc``, ``1.2.3``, ``132k``, ``NaN``, ``0x10``) is a parse error.
- A suffix is applied by rewriting it as a decimal exponent (``224.2M`` → ``224.2E6``) and
  parsing that once, so the double is the correctly rounded value (224200000.0, not
  224.2 × 1e6 = 224200000.00000003), and Java's parser in Spark gives the very same double.
- Integer columns accept any value whose double is integral: ``1.5K`` → 1500, ``12.0`` →
  12; ``1.2345K`` (1234.5) is "not an integer". Magnitudes from 2**53 on are "out of range"
  (beyond that a double no longer holds every integer, so Spark and Python could differ).
- Floats that overflow to infinity (``1e400``) are "out of range".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pipelines.errors import ParseError
from pipelines.schema.columns import Stream
from pipelines.schema.fields import FIELDS, Field, Kind, canonical_name, layout_fields

WHITESPACE_CHARS: Final = " \t\n\r\f\v"
"""Removed from numbers, stripped around categories (Java regex ``\\s`` is the same set)."""

MISSING_MARK: Final = "-"
"""atop's placeholder for "no value" in a numeric field."""

NUMBER_PATTERN: Final = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+|[KMG])?"
"""Accepted number text after whitespace removal (Python and Java regex syntax alike)."""

SUFFIX_EXPONENTS: Final[dict[str, int]] = {"K": 3, "M": 6, "G": 9}
"""atop's unit letters as powers of ten (K = 1e3, M = 1e6, G = 1e9)."""

MAX_INTEGER_EXCLUSIVE: Final = 2**53
"""Integers must have a magnitude below this (exactly representable as a double)."""

NICE_PRI_OFFSET: Final = 120
TIMESHARING_PRI_RANGE: Final = (100, 139)
"""PRI values of timesharing processes, for which NICE = PRI − 120 (SPEC §2.1)."""

# Reasons, shared word for word with the Spark expressions.
REASON_MISSING_COLUMN: Final = "missing column"
REASON_MISSING_VALUE: Final = "missing value"
REASON_NOT_A_NUMBER: Final = "not a number"
REASON_NOT_AN_INTEGER: Final = "not an integer"
REASON_OUT_OF_RANGE: Final = "out of range"
REASON_BOTH_LABELS: Final = "both attack and label given"


def not_allowed_reason(allowed: Iterable[int]) -> str:
    """Reason for an integer outside a field's allowed values (e.g. attack)."""
    return "not one of " + ", ".join(str(v) for v in allowed)


_NUMBER_RE: Final = re.compile(NUMBER_PATTERN)
_FAST_DIGITS_MAX: Final = 16  # 15 digits stay below 2**53
_DELETE_WHITESPACE: Final = str.maketrans("", "", WHITESPACE_CHARS)


def parse_number(value: object, *, integer: bool) -> int | float | None:
    """Convert one raw numeric value.

    Args:
        value: a JSON number (int or float), a string as found in CSV or JSON, or None.
        integer: the column is an integer column (the result must be integral).

    Returns:
        An int (``integer=True``) or a float; None for ``-``, an empty string or None.

    Raises:
        ParseError: with ``reason`` "not a number", "not an integer" or "out of range" and
            ``value`` set (no column: the row parser adds it).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        # JSON true/false: Spark sees the text "true", which is no number either.
        raise ParseError(REASON_NOT_A_NUMBER, value=value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            # Spark receives non-finite JSON numbers as the text "Infinity"/"NaN".
            raise ParseError(REASON_NOT_A_NUMBER, value=value)
        try:
            number = float(value)
        except OverflowError:
            raise ParseError(REASON_OUT_OF_RANGE, value=value) from None
    elif isinstance(value, str):
        if value.isascii() and value.isdigit() and len(value) < _FAST_DIGITS_MAX:
            # Fast path for the common plain counter (the rules below give the same).
            return int(value) if integer else float(value)
        text = value.translate(_DELETE_WHITESPACE)
        if text in ("", MISSING_MARK):
            return None
        if _NUMBER_RE.fullmatch(text) is None:
            raise ParseError(REASON_NOT_A_NUMBER, value=value)
        exponent = SUFFIX_EXPONENTS.get(text[-1])
        if exponent is not None:
            text = f"{text[:-1]}E{exponent}"
        number = float(text)
    else:
        raise ParseError(REASON_NOT_A_NUMBER, value=value)
    if not math.isfinite(number):
        raise ParseError(REASON_OUT_OF_RANGE, value=value)
    if not integer:
        return number
    if abs(number) >= MAX_INTEGER_EXCLUSIVE:
        raise ParseError(REASON_OUT_OF_RANGE, value=value)
    if not number.is_integer():
        raise ParseError(REASON_NOT_AN_INTEGER, value=value)
    return int(number)


def restore_nice(nice: int | None, pri: int | None) -> int | None:
    """Give NICE back its sign, which the reference files lost (they hold |PRI − 120|).

    Args:
        nice: NICE as read (unsigned).
        pri: PRI as read (0–139; 100–139 for timesharing processes).

    Returns:
        ``pri − 120`` when 100 ≤ PRI ≤ 139 (atop's own rows: PRI 100, NICE 20 → −20),
        else 0 (finished processes have PRI 0). When PRI is missing the sign cannot be
        known: 0 stays 0, anything else becomes None.
    """
    if pri is None:
        return 0 if nice == 0 else None
    low, high = TIMESHARING_PRI_RANGE
    return pri - NICE_PRI_OFFSET if low <= pri <= high else 0


def parse_value(field: Field, value: object) -> int | float | str | None:
    """Convert one raw value of ``field``.

    Returns:
        The typed value; None for a missing value of a nullable field (numbers, and the
        optional ``run_id``).

    Raises:
        ParseError: reason and value set, column not (see :func:`parse_number`); for text
            and categories only "missing value" (null or empty).
    """
    kind = field.kind
    if kind is Kind.INTEGER or kind is Kind.FLOAT:
        number = parse_number(value, integer=kind is Kind.INTEGER)
        if number is None:
            if not field.nullable:
                raise ParseError(REASON_MISSING_VALUE, value=value)
            return None
        if field.allowed is not None and number not in field.allowed:
            raise ParseError(not_allowed_reason(field.allowed), value=value)
        return number
    if value is None:
        if field.nullable:
            return None
        raise ParseError(REASON_MISSING_VALUE)
    if not isinstance(value, str):
        # A JSON number in a text field: Spark's from_json gives its text, so do we.
        value = str(value)
    text = value.strip(WHITESPACE_CHARS) if kind is Kind.CATEGORY else value
    if text == "":
        if field.nullable:
            return None
        raise ParseError(REASON_MISSING_VALUE, value=value)
    return text


def failure_text(error: ParseError) -> str:
    """The quarantine reason of a row: ``column PID: not a number (value '12x')``.

    Spark's ``parse_error`` column has exactly this text; null and empty values are
    not quoted (Spark's CSV reader cannot tell them apart).
    """
    head = f"column {error.column}: {error.reason}"
    if error.value is None or error.value == "":
        return head
    return f"{head} (value '{error.value}')"


def input_keys(names: Iterable[str]) -> dict[str, str]:
    """Map each known output field name to the input key (or column) holding it
    (``label`` read as ``attack``); shared by this parser and the Spark cleaning.

    Raises:
        ParseError: two inputs name the same field (``attack`` and ``label``).
    """
    keys: dict[str, str] = {}
    for key in names:
        name = canonical_name(key)
        if name in keys:
            raise ParseError(REASON_BOTH_LABELS, column=key)
        if name in FIELDS:
            keys[name] = key
    return keys


def parse_row(
    fields: Iterable[Field],
    raw: Mapping[str, object],
    *,
    source: str | None = None,
    line: int | None = None,
) -> dict[str, Any]:
    """Type one record: ``fields`` must be present; other known fields are typed too.

    Args:
        fields: the layout's fields, in order (errors are reported in this order).
        raw: column name → raw value (CSV text or decoded JSON). ``label`` is read as
            ``attack``. Unknown keys are dropped.
        source: file or topic name, for the error message.
        line: line number in ``source`` (header = 1), for the error message.

    Returns:
        Field name → typed value: the layout's fields in order, then the other known
        fields found in ``raw`` in their order there. NICE is restored from PRI when both
        are present.

    Raises:
        ParseError: on the first bad or missing value, naming source, line, column, value.
    """
    try:
        keys = input_keys(raw)
    except ParseError as exc:
        raise ParseError(exc.reason, source=source, line=line, column=exc.column) from None
    layout = list(fields)
    layout_names = {f.name for f in layout}
    extras = [FIELDS[name] for name in keys if name not in layout_names]
    row: dict[str, Any] = {}
    for field in (*layout, *extras):
        key = keys.get(field.name)
        if key is None:
            raise ParseError(REASON_MISSING_COLUMN, source=source, line=line, column=field.name)
        try:
            row[field.name] = parse_value(field, raw[key])
        except ParseError as exc:
            raise ParseError(
                exc.reason, source=source, line=line, column=key, value=exc.value
            ) from None
    if "NICE" in row and "PRI" in row:
        row["NICE"] = restore_nice(row["NICE"], row["PRI"])
    return row


def parse_streaming_row(
    stream: Stream,
    raw: Mapping[str, object],
    *,
    source: str | None = None,
    line: int | None = None,
) -> dict[str, Any]:
    """Type one record of a streaming file or Kafka topic (SPEC §2.1, §3).

    Args:
        stream: ``"process"`` or ``"memory"``.
        raw: column → raw value; every column of the stream must be present; ts, run_id,
            pass (and attack/label, type) are typed when present, unknown keys dropped.
        source: file or topic name for errors.
        line: line number for errors (header = 1).

    Returns:
        The typed row (see :func:`parse_row`).

    Raises:
        ParseError: bad value or missing column, naming source, line, column and value.
    """
    return parse_row(layout_fields(stream), raw, source=source, line=line)


def parse_labelled_row(
    stream: Stream,
    raw: Mapping[str, object],
    *,
    source: str | None = None,
    line: int | None = None,
) -> dict[str, Any]:
    """Type one row of a labelled TON_IoT training file (SPEC §2.2).

    ``label`` is accepted as the name of ``attack`` (the output key is always
    ``attack``); ``attack`` must be 0 or 1, ``type`` non-empty. Other arguments, return
    value and errors as :func:`parse_streaming_row`.
    """
    return parse_row(layout_fields(stream, labelled=True), raw, source=source, line=line)


__all__ = [
    "MISSING_MARK",
    "NUMBER_PATTERN",
    "SUFFIX_EXPONENTS",
    "WHITESPACE_CHARS",
    "ParseError",
    "failure_text",
    "not_allowed_reason",
    "parse_labelled_row",
    "parse_number",
    "parse_row",
    "parse_streaming_row",
    "parse_value",
    "restore_nice",
]
