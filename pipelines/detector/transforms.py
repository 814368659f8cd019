"""The detector's transforms: every one a DataFrame → DataFrame function (SPEC §5).

None of them reads or writes anything, so each works on a small batch DataFrame in a
test and on a micro-batch or streaming DataFrame in the query that uses it (each query
is wired in its own module: :mod:`~pipelines.detector.ingest`,
:mod:`~pipelines.detector.counts`, :mod:`~pipelines.detector.alerts`).

The ingest path of one stream, in order:

1. :func:`decode_messages`: Kafka rows (``value``, ``topic``, ``partition``, ``offset``)
   → one row per record, accepting one JSON object or a JSON array of objects per
   message; the record's JSON text is kept as ``raw_value``, its fields as strings.
   Records that are not JSON objects or lack a field get a ``reason`` (stage ``decode``).
2. :func:`clean_records`: the schema module's cleaning expressions (types, suffixes,
   placeholders, NICE restored); a value that does not convert gives a ``reason``
   (stage ``parse``); then ``CMD_PID`` and ``event_time`` (:func:`add_event_columns`).
3. :func:`flag_unscorable`: rows the model cannot score get a ``reason`` (stage
   ``score``), using :func:`pipelines.spark.scoring.quarantine_reason`.
4. :func:`score_records`: the model's ``prediction`` and ``attack_probability`` on the
   rows it can score (null on the others), in the same plan.

Every record keeps exactly one row from step 1 on, so the views taken of the result,
:func:`quarantine_view`, :func:`cleaned_view` and :func:`scorable_view` (or
:func:`scored_view`, with the model's verdict), account for every record: records =
decode/parse-quarantined + cleaned, cleaned = score-quarantined + scorable.

The monitoring transforms read scored records: :func:`attack_counts` (7a) and
:func:`attack_pairs` (7b). Applied to batch DataFrames, their watermarks are no-ops, so
the same functions recompute the streaming results in tests. :func:`drop_replayed_records`
removes the second copy of a scored record that a crash-replayed ingest batch published
again, before 7b pairs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce
from typing import Final

from pyspark.ml import PipelineModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipelines.schema.columns import IDENTITY_COLUMNS, Stream
from pipelines.schema.fields import FIELDS, OPTIONAL_FIELD_NAMES, record_fields
from pipelines.spark.clean import (
    PARSE_ERROR,
    FastPath,
    clean_columns,
    fast_path_flag,
    string_schema,
    typed_schema,
)
from pipelines.spark.scoring import (
    ATTACK_PROBABILITY,
    PREDICTION,
    quarantine_reason,
    score_where,
)

# -- column names ----------------------------------------------------------------------
CMD_PID: Final = "CMD_PID"
CMD_PID_SEPARATOR: Final = "|"
"""Joins CMD and PID in ``CMD_PID``; CMD may contain spaces and '/', so a bar is used."""
EVENT_TIME: Final = "event_time"
INGESTED_AT: Final = "ingested_at"
"""Processing time of the micro-batch that parsed and scored a record (UTC)."""
PAIRED_AT: Final = "paired_at"
"""Processing time of the micro-batch that found a 7b pair (UTC)."""

RAW_VALUE: Final = "raw_value"
"""The record's JSON text (one element of an array message, or the whole message)."""
RECORD_INDEX: Final = "record_index"
"""Position of the record in its message: 0 for a single object, i for array element i."""
KAFKA_COLUMNS: Final[tuple[str, ...]] = ("topic", "partition", "offset")
KAFKA_TIMESTAMP: Final = "kafka_timestamp"
"""The message's Kafka timestamp (the producer's send time unless the topic stamps
append times): kept with every record, so latency can be measured from it."""
PROVENANCE_COLUMNS: Final[tuple[str, ...]] = (*KAFKA_COLUMNS, RECORD_INDEX)
"""(topic, partition, offset, record_index) identifies a record even when its JSON is broken."""

STAGE: Final = "stage"
REASON: Final = "reason"
QUARANTINED_AT: Final = "quarantined_at"
STAGE_DECODE: Final = "decode"
STAGE_PARSE: Final = "parse"
STAGE_SCORE: Final = "score"

# -- time rules (SPEC §5 steps 4 and 7) ------------------------------------------------
WATERMARK_S: Final = 20
WINDOW_S: Final = 120
PAIR_TOLERANCE_S: Final = 30
"""7b: process and memory event times strictly less than this many seconds apart."""

COUNT: Final = "count"
WINDOW_START: Final = "window_start"
WINDOW_END: Final = "window_end"
STREAM: Final = "stream"
ATTACK_COUNT_COLUMNS: Final[tuple[str, ...]] = ("machine", WINDOW_START, WINDOW_END, STREAM, COUNT)
PAIR_KEY_COLUMNS: Final[tuple[str, ...]] = ("machine", "CMD", "PID")

QUARANTINE_SCHEMA: Final = StructType(
    [
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField(RECORD_INDEX, IntegerType()),
        StructField(STAGE, StringType()),
        StructField(REASON, StringType()),
        StructField(RAW_VALUE, StringType()),
        *[StructField(name, StringType()) for name in IDENTITY_COLUMNS],
        StructField(QUARANTINED_AT, TimestampType()),
    ]
)
"""One row per quarantined record, whatever the stage. The identity columns hold the
record's own text for them (null when absent), so a test can match quarantined records
with produced ones."""

JSON_OPTIONS: Final[dict[str, str]] = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"}
"""Timestamps in the attack topics' JSON keep microseconds (Spark's default keeps ms)."""

TEXT_PID_SEARCH_CHARS: Final = 80
"""How much of a record's JSON text is searched for a PID given as a string."""
_JSON_FIELDS: Final = "__json_fields"
_TYPED: Final = "__typed"
_FAST: Final = "__fast"
_JSON_KEYS: Final = "__json_keys"
_SOME_NULL: Final = "__some_null"
_UTF8: Final = "__utf8"
_TEXT: Final = "__text"
REASON_NO_RECORD: Final = "no record: empty message or empty JSON array"
REASON_NOT_AN_OBJECT: Final = "not a JSON object (broken JSON or another JSON value)"
REASON_MISSING_FIELDS: Final = "missing field(s): "
REASON_NOT_UTF8: Final = "not UTF-8 text (raw_value shows the invalid bytes as U+FFFD)"


def _record_field_names(stream: Stream) -> list[str]:
    return [f.name for f in record_fields(stream, with_kafka_fields=True)]


def _required_fields(stream: Stream) -> list[str]:
    """Every field of the record but our producers' optional run_id and pass."""
    return [n for n in _record_field_names(stream) if n not in OPTIONAL_FIELD_NAMES]


# -- step 1: Kafka messages → records --------------------------------------------------
def decode_messages(messages: DataFrame, stream: Stream) -> DataFrame:
    """Split Kafka messages into records and read each record's fields as strings.

    A message may hold one JSON object or a JSON array of them; numbers may be JSON
    numbers or strings (``from_json`` with an all-string schema gives both as text).

    Args:
        messages: Kafka-shaped rows with ``value`` (binary or string), ``topic``,
            ``partition``, ``offset`` and optionally ``timestamp``.
        stream: ``"process"`` or ``"memory"`` (which fields are required: all but the
            optional ``run_id`` and ``pass``).

    Returns:
        One row per record: ``topic``, ``partition``, ``offset``, ``record_index``,
        ``kafka_timestamp``, ``raw_value``, then every field of the stream's record
        (layout, ts, run_id, pass) as a string (null when absent), then
        ``stage``/``reason``: null, or ``decode`` with
        :data:`REASON_NO_RECORD` (null, empty or blank value, ``[]``),
        :data:`REASON_NOT_UTF8` (the whole message, one record),
        :data:`REASON_NOT_AN_OBJECT` or ``missing field(s): A, B``. A message that holds
        no record at all still gives one row, so nothing vanishes.
    """
    # JSON text is UTF-8 (RFC 8259). Spark's JSON reader would read invalid bytes as
    # U+FFFD and clean the record with an altered CMD, so such a message is one broken
    # record instead; its text is kept with the invalid bytes shown as U+FFFD (a
    # quarantine row must be readable text).
    # The check and the text are columns of the message, computed before the explode:
    # written into the explode's select, Spark evaluated them again for every record of
    # an array message, over the whole message (a fifth of the ingest's task time at
    # 500 hosts sending one array per machine and cycle).
    value = F.col("value").cast(StringType())
    checked = messages.select(
        *[F.col(c) for c in KAFKA_COLUMNS],
        (
            F.col("timestamp")
            if "timestamp" in messages.columns
            else F.lit(None).cast(TimestampType())
        ).alias(KAFKA_TIMESTAMP),
        value.alias(_TEXT),
        # Null for a tombstone (null value): posexplode_outer's row is "no record" then.
        F.is_valid_utf8(value).alias(_UTF8),
    )
    utf8 = F.col(_UTF8)
    text = F.when(utf8, F.col(_TEXT)).otherwise(F.make_valid_utf8(F.col(_TEXT)))
    # An array message is one whose first non-blank character is '['; a broken one (its
    # from_json is null) is treated as one broken record rather than an array. (A
    # character test, not json_array_length: that parsed every message once more.)
    is_array = utf8 & F.startswith(F.ltrim(F.col(_TEXT)), F.lit("["))
    elements = F.when(
        is_array,
        F.coalesce(F.from_json(F.col(_TEXT), ArrayType(StringType())), F.array(F.col(_TEXT))),
    ).otherwise(F.array(text))
    exploded = checked.select(
        *[F.col(c) for c in KAFKA_COLUMNS],
        F.col(KAFKA_TIMESTAMP),
        F.posexplode_outer(elements).alias(RECORD_INDEX, RAW_VALUE),
        F.col(_UTF8),
    ).withColumn(RECORD_INDEX, F.coalesce(F.col(RECORD_INDEX), F.lit(0)).cast(IntegerType()))

    raw = F.col(RAW_VALUE)
    # First the record typed directly by Spark's JSON reader: for a record whose
    # numbers are JSON numbers (our producers' records) that is all the parsing it
    # needs (see pipelines.spark.clean.FastPath). Only the other records are parsed again with an
    # all-string schema, for the text rules. Each parse is a column of its own, computed
    # once per record: written inline, every field would repeat it.
    # A record whose PID is a JSON string (the layout other producers of this feed use:
    # every value a string) cannot take that path; its typed parse is skipped, which
    # costs it one character search instead of a parse that fails field by field.
    # Only the record's head is searched: PID is the third column of the layout, and a
    # producer that writes it further on merely costs its records the failed parse.
    head = F.left(raw, F.lit(TEXT_PID_SEARCH_CHARS))
    pid_is_text = (F.instr(head, '"PID":"') > 0) | (F.instr(head, '"PID": "') > 0)
    typed = exploded.withColumn(
        _TYPED,
        F.when(~pid_is_text, F.from_json(raw, typed_schema(stream, with_kafka_fields=True))),
    )
    typed = typed.withColumn(
        _FAST, fast_path_flag(F.col(_TYPED), stream) & F.coalesce(F.col(_UTF8), F.lit(True))
    )
    fast = F.col(_FAST)
    parsed = typed.withColumn(
        _JSON_FIELDS,
        F.when(~fast, F.from_json(raw, string_schema(stream, with_kafka_fields=True))),
    )
    fields = F.col(_JSON_FIELDS)
    names = _record_field_names(stream)
    # from_json cannot tell an absent key from a null value, and a record that is no
    # JSON object reads as all nulls. Only when some field is null are the keys listed
    # (a third parse, which nearly no record needs).
    some_null = ~fast & reduce(lambda a, b: a | b, [fields[name].isNull() for name in names])
    parsed = parsed.withColumn(_SOME_NULL, some_null)
    parsed = parsed.withColumn(_JSON_KEYS, F.when(F.col(_SOME_NULL), F.json_object_keys(raw)))
    keys = F.col(_JSON_KEYS)
    required = F.array(*[F.lit(name) for name in _required_fields(stream)])
    missing = F.filter(required, lambda name: ~F.array_contains(keys, name))
    reason = (
        # An empty (or blank) message holds no record, as a null value or "[]".
        F.when(raw.isNull() | (F.trim(raw) == ""), F.lit(REASON_NO_RECORD))
        .when(~F.col(_UTF8), F.lit(REASON_NOT_UTF8))
        .when(~F.col(_SOME_NULL), F.lit(None).cast(StringType()))
        .when(keys.isNull(), F.lit(REASON_NOT_AN_OBJECT))
        .when(
            F.size(missing) > 0,
            F.concat(F.lit(REASON_MISSING_FIELDS), F.array_join(missing, ", ")),
        )
    )
    reasoned = parsed.withColumn(REASON, reason)
    kinds = {f.name: f.kind for f in record_fields(stream, with_kafka_fields=True)}

    def text_of(name: str) -> Column:
        # Text fields read the same with either schema: a fast row has them typed.
        if kinds[name].numeric:
            return fields[name]
        return F.when(fast, F.col(_TYPED)[name]).otherwise(fields[name])

    return reasoned.select(
        *[F.col(c) for c in PROVENANCE_COLUMNS],
        F.col(KAFKA_TIMESTAMP),
        # The text is carried (through every later projection) only where it may be
        # needed: a fast-path record cannot fail to decode or parse; should the model
        # refuse it, quarantine_view writes its parsed fields as JSON instead.
        F.when(~fast, raw).alias(RAW_VALUE),
        *[text_of(name).alias(name) for name in names],
        F.col(_TYPED),
        fast.alias(_FAST),
        F.when(F.col(REASON).isNotNull(), F.lit(STAGE_DECODE)).alias(STAGE),
        F.col(REASON),
    )


# -- step 2: typing and event columns --------------------------------------------------
def add_event_columns(records: DataFrame) -> DataFrame:
    """Add ``CMD_PID`` (CMD, a bar, PID) and ``event_time`` (timestamp of ``ts``, UTC).

    Null when CMD/PID or ts is null (only on rows that are quarantined anyway).
    """
    cmd_pid = F.when(
        F.col("CMD").isNotNull() & F.col("PID").isNotNull(),
        F.concat_ws(CMD_PID_SEPARATOR, F.col("CMD"), F.col("PID").cast(StringType())),
    )
    return records.withColumn(CMD_PID, cmd_pid).withColumn(
        EVENT_TIME, F.timestamp_seconds(F.col("ts"))
    )


def clean_records(decoded: DataFrame, stream: Stream) -> DataFrame:
    """Type the fields of :func:`decode_messages` rows and add the event columns.

    Args:
        decoded: the output of :func:`decode_messages`.
        stream: ``"process"`` or ``"memory"``.

    Returns:
        The typed record columns (layout, then provenance, ``raw_value``, ts, run_id,
        pass), ``CMD_PID``, ``event_time``, ``ingested_at`` (processing time), then
        ``stage``/``reason``: a decode failure
        is kept; otherwise the first value that does not convert gives stage ``parse``
        with the schema module's reason (``column CPU: not a number (value 'x')``).
    """
    fast = FastPath(typed=_TYPED, flag=_FAST) if _TYPED in decoded.columns else None
    cleaned = clean_columns(decoded, stream, source=f"{stream} topic", fast=fast)
    flagged = cleaned.withColumns(
        {
            STAGE: F.coalesce(
                F.col(STAGE), F.when(F.col(PARSE_ERROR).isNotNull(), F.lit(STAGE_PARSE))
            ),
            REASON: F.coalesce(F.col(REASON), F.col(PARSE_ERROR)),
        }
    ).drop(PARSE_ERROR)
    columns = [c for c in flagged.columns if c not in (STAGE, REASON)]
    # ingested_at is read per row (processing_time), so it is not deterministic, and
    # Spark's optimizer moves no filter below the projection that makes it: without
    # that, a filter on the views (stage is null, …) was pushed into the cleaning
    # stages and every staged value inlined into it, a plan of megabytes (minutes to
    # plan, or out of memory) whenever the records were not persisted first.
    return add_event_columns(flagged).select(
        *columns, CMD_PID, EVENT_TIME, processing_time().alias(INGESTED_AT), STAGE, REASON
    )


# -- step 3: what the model cannot score -----------------------------------------------
def flag_unscorable(records: DataFrame, model: PipelineModel) -> DataFrame:
    """Give rows ``model`` cannot score (null/NaN/unseen input) stage ``score``.

    Rows already quarantined keep their stage and reason.

    Raises:
        ModelError: the records lack a column the model needs.
    """
    # quarantine_reason checks the whole schema against the model; the stage/reason
    # columns are ours, not model inputs.
    plain = records.drop(STAGE, REASON)
    score_reason = quarantine_reason(plain, model)
    return records.withColumns(
        {
            STAGE: F.coalesce(F.col(STAGE), F.when(score_reason.isNotNull(), F.lit(STAGE_SCORE))),
            REASON: F.coalesce(F.col(REASON), score_reason),
        }
    )


# -- step 4: the model's verdict ------------------------------------------------------
SCORABLE: Final = "__scorable"
"""Transient column of :func:`score_records`: the row's stage is null (it can be scored)."""


def score_records(records: DataFrame, model: PipelineModel) -> DataFrame:
    """Add ``prediction`` and ``attack_probability``, null on every quarantined row.

    Every row goes through the model in the same plan (the quarantined ones with
    stand-in inputs, see :func:`pipelines.spark.scoring.score_where`) and keeps its
    own values, so the ingest's streaming plan scores its records itself.

    Raises:
        ModelError: the records do not fit the model.
    """
    flagged = records.withColumn(SCORABLE, F.col(STAGE).isNull())
    return score_where(flagged, model, SCORABLE).drop(SCORABLE)


def processing_time() -> Column:
    """The wall-clock time when a row is computed (UTC timestamp, milliseconds).

    Not ``current_timestamp()``: a streaming query folds that into a different literal
    in every micro-batch, so Spark generated and compiled the Java code of every
    projection holding it again in each batch (a fifth of the ingest's CPU, measured
    with Java Flight Recorder). This expression is the same in every batch; its value
    is read per row (a reflective call).
    """
    millis = F.reflect(F.lit("java.lang.System"), F.lit("currentTimeMillis"))
    return F.timestamp_millis(millis.cast(LongType()))


def add_ingest_time(records: DataFrame) -> DataFrame:
    """Add ``ingested_at``: the processing time of the record's micro-batch."""
    return records.withColumn(INGESTED_AT, processing_time())


def keep_raw_value_for_quarantine(records: DataFrame) -> DataFrame:
    """Null ``raw_value`` on the rows that are not quarantined.

    Only the quarantine output keeps a record's JSON text; dropping it from every other
    row keeps a persisted micro-batch small.
    """
    return records.withColumn(RAW_VALUE, F.when(F.col(STAGE).isNotNull(), F.col(RAW_VALUE)))


# -- the views -------------------------------------------------------------------------
_NOT_RECORD_COLUMNS: Final = (STAGE, REASON, RAW_VALUE, PREDICTION, ATTACK_PROBABILITY)


def _record_columns(records: DataFrame) -> list[str]:
    return [c for c in records.columns if c not in _NOT_RECORD_COLUMNS]


def cleaned_view(records: DataFrame) -> DataFrame:
    """Records that were typed cleanly (scorable or not), without the raw text."""
    kept = F.col(STAGE).isNull() | (F.col(STAGE) == STAGE_SCORE)
    return records.filter(kept).select(*_record_columns(records))


def scorable_view(records: DataFrame) -> DataFrame:
    """Records the model can score, with the columns of :func:`cleaned_view`."""
    return records.filter(F.col(STAGE).isNull()).select(*_record_columns(records))


def scored_view(records: DataFrame) -> DataFrame:
    """Scored records (of :func:`score_records`): :func:`scorable_view`'s columns plus
    ``prediction`` and ``attack_probability``."""
    return records.filter(F.col(STAGE).isNull()).select(
        *_record_columns(records), PREDICTION, ATTACK_PROBABILITY
    )


def quarantine_view(records: DataFrame) -> DataFrame:
    """Quarantined records in the :data:`QUARANTINE_SCHEMA` shape.

    ``raw_value`` is the record's JSON text; a record the typed fast path read (it can
    only be refused by the model) has its fields written as JSON instead. The identity
    columns come from that text (``get_json_object``), so they are there even when the
    record failed to type.
    """
    fields = [c for c in records.columns if c in FIELDS]
    raw = F.coalesce(F.col(RAW_VALUE), F.to_json(F.struct(*[F.col(c) for c in fields])))
    return records.filter(F.col(STAGE).isNotNull()).select(
        *[F.col(c) for c in PROVENANCE_COLUMNS],
        F.col(STAGE),
        F.col(REASON),
        raw.alias(RAW_VALUE),
        *[F.get_json_object(raw, f"$.{name}").alias(name) for name in IDENTITY_COLUMNS],
        # The batch's processing time; referencing ingested_at also keeps the filter
        # above the cleaning stages (see clean_records).
        F.col(INGESTED_AT).alias(QUARANTINED_AT),
    )


# -- the intermediate attack topics (scored attack records as JSON) --------------------
def scored_to_kafka(scored: DataFrame) -> DataFrame:
    """Scored records as Kafka rows: key = machine, value = the record as JSON.

    ``CMD_PID`` and ``event_time`` are left out: readers derive them again with
    :func:`add_event_columns` (JSON timestamps keep only milliseconds; ``ts`` as a JSON
    number round-trips exactly).
    """
    payload = [c for c in scored.columns if c not in (CMD_PID, EVENT_TIME)]
    return scored.select(
        F.col("machine").cast(StringType()).alias("key"),
        F.to_json(F.struct(*[F.col(c) for c in payload]), JSON_OPTIONS).alias("value"),
    )


def payload_schema(scored_schema: StructType) -> StructType:
    """The JSON schema of :func:`scored_to_kafka` values for scored records of this schema."""
    return StructType([f for f in scored_schema.fields if f.name not in (CMD_PID, EVENT_TIME)])


def scored_from_kafka(messages: DataFrame, scored_schema: StructType) -> DataFrame:
    """Read :func:`scored_to_kafka` values back into scored records.

    Args:
        messages: Kafka-shaped rows of an attack topic.
        scored_schema: the schema of the scored records written there.

    Returns:
        Columns of ``scored_schema`` in its order (event columns derived again).
    """
    parsed = F.from_json(
        F.col("value").cast(StringType()), payload_schema(scored_schema), JSON_OPTIONS
    )
    records = messages.select(parsed.alias("r")).select("r.*")
    return add_event_columns(records).select(*[f.name for f in scored_schema.fields])


# -- de-duplication of crash-replayed scored records -----------------------------------
WATERMARK_DELAY_METADATA_KEY: Final = "spark.watermarkDelayMs"
"""Column metadata Spark sets on a watermarked event-time column."""


def _watermarked(df: DataFrame, column: str) -> DataFrame:
    """``df`` watermarked by :data:`WATERMARK_S` on ``column``, unless it already is.

    Spark refuses a second watermark on a plan that has one ("Redefining watermark is
    disallowed"), which :func:`drop_replayed_records` followed by :func:`attack_pairs`
    would otherwise define.
    """
    if WATERMARK_DELAY_METADATA_KEY in df.schema[column].metadata:
        return df
    return df.withWatermark(column, f"{WATERMARK_S} seconds")


def drop_replayed_records(scored: DataFrame) -> DataFrame:
    """One row per record identity (topic, partition, offset, record_index).

    The ingest publishes a micro-batch's attack records to its attack topic at least once:
    a crash after the publish and before Spark commits the batch publishes it again when
    the batch re-runs. The identity is that of the ORIGINAL record on the source topic,
    which every published record carries, so the second copy has the same identity.

    On a stream the state is bounded by the watermark (``dropDuplicatesWithinWatermark``
    on ``event_time``, :data:`WATERMARK_S`): a key is forgotten once the watermark passes
    its event time plus the delay, by when a copy would be late and dropped by 7b anyway.
    Rows older than the watermark are dropped here, as the 7b join drops them. On a
    batch DataFrame (tests, recomputations) it is a plain ``dropDuplicates``.

    Args:
        scored: scored records with the provenance columns and ``event_time``.

    Returns:
        ``scored`` without repeated identities (same columns).
    """
    keys = list(PROVENANCE_COLUMNS)
    if not scored.isStreaming:
        return scored.dropDuplicates(keys)
    return _watermarked(scored, EVENT_TIME).dropDuplicatesWithinWatermark(keys)


# -- 7a: distinct attacked programs per machine and window -----------------------------
def attack_counts(scored: Mapping[Stream, DataFrame]) -> DataFrame:
    """Per machine, 2-minute event-time window and stream: approx. distinct ``CMD_PID``.

    Only records predicted as attack count. Each stream's ``event_time`` is watermarked
    with :data:`WATERMARK_S` before the union (a no-op on batch DataFrames, so the same
    function recomputes the streaming result from the scored parquet).

    Args:
        scored: stream name → scored records (``machine``, ``CMD_PID``, ``event_time``,
            ``prediction``).

    Returns:
        Columns ``machine``, ``window_start``, ``window_end``, ``stream``, ``count``
        (``approx_count_distinct``, HyperLogLog++ with the default 5 % relative error).
    """
    # Each stream is watermarked on its own before the union: Spark then keeps the
    # slower stream's watermark for the query (its default "min" policy), so a stream
    # that runs behind the other does not see its rows dropped as late.
    parts = [
        _watermarked(df, EVENT_TIME)
        .filter(F.col(PREDICTION) == 1.0)
        .select(F.col("machine"), F.lit(stream).alias(STREAM), F.col(CMD_PID), F.col(EVENT_TIME))
        for stream, df in scored.items()
    ]
    union = reduce(DataFrame.unionByName, parts)
    window = F.window(F.col(EVENT_TIME), f"{WINDOW_S} seconds")
    return (
        union.groupBy(F.col("machine"), window.alias("window"), F.col(STREAM))
        .agg(F.approx_count_distinct(CMD_PID).alias(COUNT))
        .select(
            F.col("machine"),
            F.col("window.start").alias(WINDOW_START),
            F.col("window.end").alias(WINDOW_END),
            F.col(STREAM),
            F.col(COUNT),
        )
    )


def attack_counts_to_kafka(counts: DataFrame) -> DataFrame:
    """7a rows as Kafka rows: key ``machine|stream|window_start``, value the row as JSON."""
    key = F.concat_ws(
        CMD_PID_SEPARATOR,
        F.col("machine").cast(StringType()),
        F.col(STREAM),
        F.date_format(F.col(WINDOW_START), "yyyy-MM-dd'T'HH:mm:ss'Z'"),
    )
    return counts.select(
        key.alias("key"),
        F.to_json(F.struct(*[F.col(c) for c in ATTACK_COUNT_COLUMNS])).alias("value"),
    )


# -- 7b: the same program predicted attack in both streams -----------------------------
def _prefixed(df: DataFrame, prefix: str) -> DataFrame:
    return df.select(*[F.col(c).alias(f"{prefix}{c}") for c in df.columns])


def attack_pairs(process: DataFrame, memory: DataFrame) -> DataFrame:
    """Every (process, memory) pair of attack records of one program, < 30 s apart.

    Both sides are filtered to ``prediction == 1``, watermarked by :data:`WATERMARK_S`
    (kept when the input is watermarked already, e.g. by :func:`drop_replayed_records`)
    and joined on machine, CMD and PID with ``|process event_time − memory
    event_time| < 30 s``. Every matching pair is kept (no de-duplication).

    Args:
        process: scored process records.
        memory: scored memory records.

    Returns:
        ``machine``, ``CMD``, ``PID``, then every process column prefixed ``process_``
        and every memory column prefixed ``memory_`` (both event times, predictions,
        probabilities and ``ingested_at`` processing times included), then
        ``paired_at`` (processing time of the join).
    """
    p = _watermarked(
        _prefixed(process.filter(F.col(PREDICTION) == 1.0), "process_"), f"process_{EVENT_TIME}"
    )
    m = _watermarked(
        _prefixed(memory.filter(F.col(PREDICTION) == 1.0), "memory_"), f"memory_{EVENT_TIME}"
    )
    tolerance = F.expr(f"INTERVAL {PAIR_TOLERANCE_S} SECONDS")
    p_time, m_time = F.col(f"process_{EVENT_TIME}"), F.col(f"memory_{EVENT_TIME}")
    condition: Column = reduce(
        lambda a, b: a & b,
        [F.col(f"process_{k}") == F.col(f"memory_{k}") for k in PAIR_KEY_COLUMNS],
    )
    condition = condition & (p_time > m_time - tolerance) & (p_time < m_time + tolerance)
    joined = p.join(m, condition, "inner")
    return joined.select(
        *[F.col(f"process_{k}").alias(k) for k in PAIR_KEY_COLUMNS],
        *[F.col(c) for c in p.columns],
        *[F.col(c) for c in m.columns],
        processing_time().alias(PAIRED_AT),
    )


# -- 7b alerts: one per program and window ---------------------------------------------
ALERT_SCHEMA_VERSION: Final = 1
"""Version of the alert JSON (docs/detector.md describes each field)."""
SEVERITY_HIGH_MIN: Final = 0.9
SEVERITY_MEDIUM_MIN: Final = 0.7
ALERT_KEY_COLUMNS: Final[tuple[str, ...]] = (*PAIR_KEY_COLUMNS, WINDOW_START)


def alert_groups(pairs: DataFrame) -> DataFrame:
    """One row per (machine, CMD, PID, 2-minute window of the process event time).

    Args:
        pairs: rows of :func:`attack_pairs` (batch, or one micro-batch of them).

    Returns:
        ``machine``, ``CMD``, ``PID``, ``window_start``, ``window_end``, ``pair_count``
        (pairs in ``pairs``), ``process_probability`` and ``memory_probability`` (the
        highest attack probability on each side), ``severity_score`` (the lower of the
        two: how strongly both models agree), ``severity`` (``high`` from
        :data:`SEVERITY_HIGH_MIN`, ``medium`` from :data:`SEVERITY_MEDIUM_MIN`, else
        ``low``), ``first_process_event_time``, ``first_memory_event_time``.
    """
    window = F.window(F.col(f"process_{EVENT_TIME}"), f"{WINDOW_S} seconds")
    grouped = pairs.groupBy(*[F.col(k) for k in PAIR_KEY_COLUMNS], window.alias("window")).agg(
        F.count(F.lit(1)).alias("pair_count"),
        F.max(F.col("process_attack_probability")).alias("process_probability"),
        F.max(F.col("memory_attack_probability")).alias("memory_probability"),
        F.min(F.col(f"process_{EVENT_TIME}")).alias("first_process_event_time"),
        F.min(F.col(f"memory_{EVENT_TIME}")).alias("first_memory_event_time"),
    )
    severity_score = F.least(F.col("process_probability"), F.col("memory_probability"))
    severity = (
        F.when(severity_score >= SEVERITY_HIGH_MIN, F.lit("high"))
        .when(severity_score >= SEVERITY_MEDIUM_MIN, F.lit("medium"))
        .otherwise(F.lit("low"))
    )
    return grouped.select(
        *[F.col(k) for k in PAIR_KEY_COLUMNS],
        F.col("window.start").alias(WINDOW_START),
        F.col("window.end").alias(WINDOW_END),
        F.col("pair_count"),
        F.col("process_probability"),
        F.col("memory_probability"),
        severity_score.alias("severity_score"),
        severity.alias("severity"),
        F.col("first_process_event_time"),
        F.col("first_memory_event_time"),
    )


def alert_key(alerts: DataFrame) -> Column:
    """The stable alert key ``machine|CMD|PID|window_start`` (window start in UTC ISO)."""
    return F.concat_ws(
        CMD_PID_SEPARATOR,
        F.col("machine").cast(StringType()),
        F.col("CMD"),
        F.col("PID").cast(StringType()),
        F.date_format(F.col(WINDOW_START), "yyyy-MM-dd'T'HH:mm:ss'Z'"),
    )


def alerts_to_kafka(alerts: DataFrame, model_versions: Mapping[str, str]) -> DataFrame:
    """Alert rows of :func:`alert_groups` as Kafka rows (key = the alert key, value JSON).

    The JSON carries ``schema_version`` (:data:`ALERT_SCHEMA_VERSION`), ``key``, every
    column of :func:`alert_groups`, ``model_versions`` (stream → version text) and
    ``raised_at`` (processing time, UTC).
    """
    key = alert_key(alerts)
    versions = F.struct(*[F.lit(v).alias(k) for k, v in sorted(model_versions.items())])
    value = F.struct(
        F.lit(ALERT_SCHEMA_VERSION).alias("schema_version"),
        key.alias("key"),
        *[F.col(c) for c in alerts.columns],
        versions.alias("model_versions"),
        F.current_timestamp().alias("raised_at"),
    )
    return alerts.select(key.alias("key"), F.to_json(value, JSON_OPTIONS).alias("value"))
