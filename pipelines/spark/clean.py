"""Spark column expressions equivalent to the Python row parser.

Built from the same field definitions (:mod:`pipelines.schema.fields`) and the same
rule constants (:mod:`pipelines.schema.parse`): for every row, :func:`clean_columns`
gives the same typed values as :func:`pipelines.schema.parse.parse_streaming_row` /
``parse_labelled_row``, and its ``parse_error`` column holds the text of
:func:`pipelines.schema.parse.failure_text` for the first failing column (null when the
row is fine). A value that is not missing and cannot be converted always yields a
reason, never a silent null.

Where the string columns come from:

- **Kafka JSON** parsed with ``from_json(value, string_schema(stream))``. Checked in
  ``tests/integration/spark/test_clean.py``: with a ``StringType`` field Spark's
  ``from_json`` (PySpark 4.2) gives a JSON string's text unchanged and a JSON number's
  text as Jackson re-writes it: integers digit for digit (``12345678901234567890123``),
  floats via Java's ``Double.toString`` (``1e-05`` → ``"1.0E-5"``, ``1.0E+2`` →
  ``"100.0"``, ``123456789.123456789`` → ``"1.2345678912345679E8"``), which parses back
  to the same double, so numbers sent as JSON numbers or as strings type identically.
  ``true`` gives ``"true"`` (not a number), a nested object or array its JSON text, and
  an absent key or ``null`` gives null. Non-finite ``1e400`` gives the quoted text
  ``"Infinity"`` (with quotes), which is "not a number". Spark cannot tell an absent key
  from a null: both read as missing (None in a nullable numeric column, a "missing
  value" error elsewhere), whereas the Python parser reports an absent key as "missing
  column".
- **CSV read as strings** (:func:`read_csv_strings`): Spark's CSV reader turns an empty
  unquoted field into null, which the rules treat exactly like the empty string.

Spark runs with ANSI mode on (the 4.x default), so every conversion uses ``try_cast``
behind a regex check: no row can fail the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, LongType, StringType, StructField, StructType

from pipelines.errors import ParseError
from pipelines.schema.columns import Stream
from pipelines.schema.fields import (
    FIELDS,
    Field,
    Kind,
    layout_fields,
    record_fields,
)
from pipelines.schema.parse import (
    MAX_INTEGER_EXCLUSIVE,
    MISSING_MARK,
    NICE_PRI_OFFSET,
    REASON_MISSING_COLUMN,
    REASON_MISSING_VALUE,
    REASON_NOT_A_NUMBER,
    REASON_NOT_AN_INTEGER,
    REASON_OUT_OF_RANGE,
    SUFFIX_EXPONENTS,
    TIMESHARING_PRI_RANGE,
    WHITESPACE_CHARS,
    input_keys,
    not_allowed_reason,
)

PARSE_ERROR = "parse_error"
"""Name of the reason column: null for a good row."""

# No regular expressions, and no per-character rewriting of values that need none: a
# record's ~20 fields went through five regex evaluations each, most of the ingest's
# cleaning time, and Spark 4's translate() (collation-aware) was the next hot spot in a
# Flight Recorder profile. The checks below give the same results as NUMBER_PATTERN:
# once Java's parser accepts a text (try_cast is not null), the pattern matches exactly
# when the text starts with a digit, sign or point, ends with a digit or point and holds
# no 'x'. Java's extras all break one of these: `1d`/`1f` suffixes, `NaN`, `Infinity`,
# hexadecimal `0x1p3`, and the control characters it trims around a number.
_NUMBER_FIRST_CHARS = tuple("0123456789+-.")
_NUMBER_LAST_CHARS = tuple("0123456789.")

_SPARK_TYPES: dict[Kind, DataType] = {
    Kind.INTEGER: LongType(),
    Kind.FLOAT: DoubleType(),
    Kind.CATEGORY: StringType(),
    Kind.TEXT: StringType(),
}


def string_schema(
    stream: Stream, *, labelled: bool = False, with_kafka_fields: bool = True
) -> StructType:
    """All-string schema of a record, for ``from_json`` on Kafka values.

    Args:
        stream: ``"process"`` or ``"memory"``.
        labelled: the TON_IoT training layout instead of the streaming one.
        with_kafka_fields: add ``ts``, ``run_id``, ``pass`` (the producers' fields).

    Returns:
        One nullable ``StringType`` field per column, in record order.
    """
    return StructType(
        [
            StructField(f.name, StringType(), nullable=True)
            for f in record_fields(stream, labelled=labelled, with_kafka_fields=with_kafka_fields)
        ]
    )


def typed_schema(
    stream: Stream, *, labelled: bool = False, with_kafka_fields: bool = True
) -> StructType:
    """The schema of cleaned records (``bigint``/``double``/``string``), without parse_error.

    Nullability follows the field definitions (only telemetry numbers are nullable).
    """
    return StructType(
        [
            StructField(f.name, _SPARK_TYPES[f.kind], nullable=f.nullable)
            for f in record_fields(stream, labelled=labelled, with_kafka_fields=with_kafka_fields)
        ]
    )


@dataclass(frozen=True)
class FastPath:
    """Columns of a frame that also holds each record typed by ``from_json`` directly.

    Attributes:
        typed: a struct column: the record parsed with :func:`typed_schema`.
        flag: a boolean column, :func:`fast_path_flag` of ``typed``: true when every
            value there is present and already what the cleaning rules would make of
            its text. Such rows take their numbers from ``typed`` and skip the string
            rules; every other row is cleaned from its text as usual.
    """

    typed: str
    flag: str


def fast_path_flag(typed: Column, stream: Stream, *, with_kafka_fields: bool = True) -> Column:
    """True when ``typed`` (``from_json`` with :func:`typed_schema`) needs no cleaning.

    Spark's JSON reader types a JSON number into a ``bigint``/``double`` field and gives
    null for anything else (a string, a fraction in an integer field, a missing key).
    Where every field is non-null, integers are below 2**53 and floats finite, the
    string rules would give the very same values without a reason (a JSON number's
    text parses back to the same double), so the text need not be looked at. Our
    producers send numbers as JSON numbers: all their records take this path.
    """
    checks: list[Column] = []
    for field in record_fields(stream, with_kafka_fields=with_kafka_fields):
        value = typed[field.name]
        check = value.isNotNull()
        if field.kind is Kind.INTEGER:
            check = check & (F.abs(value) < F.lit(MAX_INTEGER_EXCLUSIVE))
            if field.allowed is not None:
                check = check & value.isin(*field.allowed)
        elif field.kind is Kind.FLOAT:
            check = check & ~F.isnan(value) & (F.abs(value) != F.lit(float("inf")))
        checks.append(check)
    return reduce(lambda a, b: a & b, checks)


def read_csv_strings(spark: SparkSession, path: str | Path) -> DataFrame:
    """Read a telemetry CSV (with header) with every column as a string.

    Columns keep the header's names and order, so :func:`clean_columns` picks them by
    name whatever the order. Leading and trailing spaces are kept (the cleaning rules
    decide about them); an empty field reads as null. Quoting follows RFC 4180 as
    Python's ``csv`` module writes it (``""`` inside quotes is one ``"``; a quoted field
    may span lines), so both parsers see the same fields.
    """
    return (
        spark.read.option("header", True)
        .option("inferSchema", False)
        .option("mode", "PERMISSIVE")
        .option("escape", '"')
        .option("multiLine", True)
        .csv(str(path))
    )


@dataclass(frozen=True)
class _Cleaned:
    value: Column
    error: Column


@dataclass(frozen=True)
class _Parts:
    """Intermediate columns of one field, each computed once in its own projection.

    Built as column references (not nested expressions) so that every later use shares
    one evaluation: the whole cleaning of a record would otherwise repeat the same
    regex and cast subtrees dozens of times per field, which made the plan slow to
    analyse on every micro-batch and its generated code exceed the JVM's 64 KB method
    limit (Spark then logs a stack trace and falls back to interpreted evaluation).
    """

    raw: Column
    text: Column | None = None
    """Numbers: raw without any whitespace; categories: raw without outer whitespace."""
    number_text: Column | None = None
    """Numbers: the text with a unit suffix rewritten as an exponent."""
    number: Column | None = None
    """Numbers: the text with a unit suffix as exponent, cast to double (null if not)."""
    whole: Column | None = None
    """Integers: the number cast to bigint."""


def _failure(column_name: str, reason: str, raw: Column) -> Column:
    """Reason text, as :func:`pipelines.schema.parse.failure_text` writes it."""
    head = f"column {column_name}: {reason}"
    return F.when(raw.isNull() | (raw == ""), F.lit(head)).otherwise(
        F.concat(F.lit(f"{head} (value '"), raw, F.lit("')"))
    )


def _number_text(cleaned: Column) -> Column:
    """Rewrite a trailing unit letter as a decimal exponent: ``224.2M`` → ``224.2E6``."""
    last = F.right(cleaned, F.lit(1))
    head = F.left(cleaned, F.length(cleaned) - 1)
    text = None
    for letter, exponent in SUFFIX_EXPONENTS.items():
        rewritten = F.concat(head, F.lit(f"E{exponent}"))
        text = (
            F.when(last == letter, rewritten)
            if text is None
            else text.when(last == letter, rewritten)
        )
    assert text is not None  # SUFFIX_EXPONENTS is not empty
    return text.otherwise(cleaned)


def _clean_numeric(field: Field, parts: _Parts, input_name: str) -> _Cleaned:
    raw, cleaned, number_text, number = parts.raw, parts.text, parts.number_text, parts.number
    # staged for every numeric field
    assert cleaned is not None and number_text is not None and number is not None
    missing = raw.isNull() | cleaned.isin("", MISSING_MARK)
    # With ``number`` not null (checked below) this is NUMBER_PATTERN's full match.
    well_formed = (
        F.left(number_text, F.lit(1)).isin(*_NUMBER_FIRST_CHARS)
        & F.right(number_text, F.lit(1)).isin(*_NUMBER_LAST_CHARS)
        & (F.instr(number_text, "x") == 0)
        & (F.instr(number_text, "X") == 0)
    )
    finite = ~F.isnan(number) & (F.abs(number) != F.lit(float("inf")))
    errors = F.when(
        missing,
        F.lit(None).cast(StringType())
        if field.nullable
        else _failure(input_name, REASON_MISSING_VALUE, raw),
    ).when(
        # The null check is a safety net: a well-formed text Java cannot parse must
        # still give a reason, never a silent null.
        ~well_formed | number.isNull(),
        _failure(input_name, REASON_NOT_A_NUMBER, raw),
    )
    if field.kind is Kind.FLOAT:
        errors = errors.when(~finite, _failure(input_name, REASON_OUT_OF_RANGE, raw))
        ok = ~missing & well_formed & finite
        return _Cleaned(F.when(ok, number), errors)
    whole = parts.whole
    assert whole is not None  # staged for every integer field
    in_range = finite & (F.abs(number) < F.lit(float(MAX_INTEGER_EXCLUSIVE)))
    integral = whole.cast(DoubleType()) == number
    errors = errors.when(~in_range, _failure(input_name, REASON_OUT_OF_RANGE, raw)).when(
        ~integral, _failure(input_name, REASON_NOT_AN_INTEGER, raw)
    )
    ok = ~missing & well_formed & in_range & integral
    if field.allowed is not None:
        allowed = whole.isin(*field.allowed)
        errors = errors.when(~allowed, _failure(input_name, not_allowed_reason(field.allowed), raw))
        ok = ok & allowed
    return _Cleaned(F.when(ok, whole), errors)


def _clean_string(field: Field, parts: _Parts, input_name: str) -> _Cleaned:
    raw = parts.raw
    text = parts.text if parts.text is not None else raw
    bad = raw.isNull() | (text == "")
    if field.nullable:  # the optional run_id: missing reads as null
        return _Cleaned(F.when(~bad, text), F.lit(None).cast(StringType()))
    return _Cleaned(
        F.when(~bad, text),
        F.when(bad, _failure(input_name, REASON_MISSING_VALUE, raw)),
    )


def _clean(field: Field, parts: _Parts, input_name: str) -> _Cleaned:
    if field.kind.numeric:
        return _clean_numeric(field, parts, input_name)
    return _clean_string(field, parts, input_name)


def _restored_nice(nice: Column, pri: Column) -> Column:
    """Spark form of :func:`pipelines.schema.parse.restore_nice`."""
    low, high = TIMESHARING_PRI_RANGE
    return (
        F.when(pri.isNull(), F.when(nice == 0, F.lit(0)))
        .when(pri.between(low, high), pri - F.lit(NICE_PRI_OFFSET))
        .otherwise(F.lit(0))
        .cast(LongType())
    )


def _input_names(df: DataFrame) -> dict[str, str]:
    """Known output field → input column name (``label`` read as ``attack``)."""
    return input_keys(df.columns)


def clean_columns(
    df: DataFrame,
    stream: Stream,
    *,
    labelled: bool = False,
    source: str | None = None,
    fast: FastPath | None = None,
) -> DataFrame:
    """Type the telemetry columns of ``df`` and add the ``parse_error`` reason column.

    Args:
        df: a DataFrame whose telemetry columns are strings (``from_json`` with
            :func:`string_schema`, or :func:`read_csv_strings`); non-string columns are
            cast to string first.
        stream: ``"process"`` or ``"memory"``.
        labelled: the TON_IoT training layout (``ts``, …, ``attack``/``label``, ``type``).
        source: named in the error when a whole column is missing.
        fast: the record typed by ``from_json`` beside its text (see :class:`FastPath`):
            rows whose flag is true take their numbers from there (their text columns
            may then be null); both columns are dropped from the result.

    Returns:
        The layout's columns typed (``bigint``/``double``/``string``), in layout order
        and with NICE restored from PRI; then the other columns of ``df`` in their
        order, the known ones (ts, run_id, pass, attack, type, …) typed and ``label``
        renamed ``attack``, unknown ones (Kafka key, offset, …) unchanged; then
        ``parse_error``: null, or ``column <name>: <reason> (value '<raw>')`` for the
        first failing column in that order. Values of a failing column are null.

    Raises:
        ParseError: a layout column is absent, or both ``attack`` and ``label`` are.
    """
    inputs = _input_names(df)
    layout = layout_fields(stream, labelled=labelled)
    for field in layout:
        if field.name not in inputs:
            raise ParseError(REASON_MISSING_COLUMN, source=source, column=field.name)
    layout_names = {f.name for f in layout}
    known_extras = {inputs[n]: FIELDS[n] for n in inputs if n not in layout_names}

    ordered: list[tuple[Field, str]] = [(f, inputs[f.name]) for f in layout]
    ordered += [(known_extras[c], c) for c in df.columns if c in known_extras]

    # Stage by stage, each intermediate value becomes a column that later stages refer
    # to by name (see _Parts). Spark's optimizer does not inline a non-trivial column
    # that is used more than once, so each is evaluated once per row.
    def tmp(step: str, index: int) -> str:
        return f"__clean_{step}_{index}"

    slow = None if fast is None else ~F.col(fast.flag)

    def for_slow_rows(expr: Column) -> Column:
        """Intermediate values of the text rules: null (not computed) on fast rows."""
        return expr if slow is None else F.when(slow, expr)

    staged = df
    raws: list[Column] = []
    texts: dict[str, Column] = {}
    for index, (field, input_name) in enumerate(ordered):
        raw = df[input_name]
        if df.schema[input_name].dataType != StringType():
            raw = raw.cast(StringType())
        raws.append(raw)
        if field.kind.numeric:
            # Most values hold no whitespace: only those are rewritten.
            has_space = reduce(
                lambda a, b: a | b, [F.instr(raw, char) > 0 for char in WHITESPACE_CHARS]
            )
            texts[tmp("text", index)] = for_slow_rows(
                F.when(has_space, F.translate(raw, WHITESPACE_CHARS, "")).otherwise(raw)
            )
        elif field.kind is Kind.CATEGORY:
            texts[tmp("text", index)] = F.btrim(raw, F.lit(WHITESPACE_CHARS))
    staged = staged.withColumns(texts)

    # The rewritten text, the double and the integer in one projection: each projection
    # copies every column of a row, and on the slow rows these are cheap to repeat.
    def number_of(i: int) -> Column:
        return _number_text(staged[tmp("text", i)]).try_cast(DoubleType())

    numbers: dict[str, Column] = {}
    for i, (field, _) in enumerate(ordered):
        if field.kind.numeric:
            numbers[tmp("numtext", i)] = for_slow_rows(_number_text(staged[tmp("text", i)]))
            numbers[tmp("number", i)] = for_slow_rows(number_of(i))
        if field.kind is Kind.INTEGER:
            numbers[tmp("whole", i)] = for_slow_rows(number_of(i).try_cast(LongType()))
    staged = staged.withColumns(numbers)

    def ref(step: str, index: int) -> Column | None:
        name = tmp(step, index)
        return staged[name] if name in staged.columns else None

    values: dict[str, Column] = {}
    errors: dict[str, Column] = {}
    for index, (field, input_name) in enumerate(ordered):
        parts = _Parts(
            raws[index],
            ref("text", index),
            ref("numtext", index),
            ref("number", index),
            ref("whole", index),
        )
        cleaned = _clean(field, parts, input_name)
        if fast is not None and field.kind.numeric:
            on_fast = F.col(fast.flag)
            cleaned = _Cleaned(
                F.when(on_fast, F.col(fast.typed)[field.name]).otherwise(cleaned.value),
                F.when(~on_fast, cleaned.error),
            )
        values[tmp("value", index)] = cleaned.value
        errors[tmp("error", index)] = cleaned.error
    staged = staged.withColumns({**values, **errors})
    typed = {field.name: staged[tmp("value", i)] for i, (field, _) in enumerate(ordered)}
    if "NICE" in typed and "PRI" in typed:
        typed["NICE"] = _restored_nice(typed["NICE"], typed["PRI"])
    outputs: list[Column] = [typed[f.name].alias(f.name) for f, _ in ordered[: len(layout)]]
    for column_name in df.columns:
        if column_name in known_extras:
            name = known_extras[column_name].name
            outputs.append(typed[name].alias(name))
        elif column_name not in inputs.values() and (
            fast is None or column_name not in (fast.typed, fast.flag)
        ):
            outputs.append(staged[column_name])
    error_columns = [staged[tmp("error", i)] for i in range(len(ordered))]
    outputs.append(F.coalesce(*error_columns).alias(PARSE_ERROR))
    return staged.select(*outputs)
