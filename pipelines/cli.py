"""``stophacking``: one command, one subcommand per capability, each a thin call.

Settings resolve defaults → ``STOPHACKING_*`` env → the global flags below (and each
subcommand's own flags). Errors of the product print as one line, exit code 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pipelines.config import Settings, load_settings, replace, without_console_progress
from pipelines.errors import StopHackingError


class _Group(click.Group):
    """Turns product errors into one readable line instead of a stack trace."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StopHackingError as exc:
            click.echo(f"stophacking: error: {exc}", err=True)
            sys.exit(2)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.find_root().obj["settings"]
    return settings


def with_overrides(ctx: click.Context, overrides: dict[str, Any]) -> Settings:
    """The root settings with a subcommand's own flags applied."""
    return replace(_settings(ctx), overrides)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--bootstrap-servers",
    metavar="HOST:PORT[,…]",
    help="Kafka cluster to use (env STOPHACKING_KAFKA__BOOTSTRAP_SERVERS).",
)
@click.option(
    "--kafka-option",
    "kafka_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Raw kafka-python client key, repeatable (e.g. security_protocol=SASL_SSL).",
)
@click.option("--spark-master", metavar="URL", help="Spark master (env STOPHACKING_SPARK__MASTER).")
@click.option("--home", type=click.Path(file_okay=False), help="State folder (jars, broker, data).")
@click.option(
    "--verbose",
    is_flag=True,
    default=None,
    help="Show Spark's own output on the console (default: in <home>/logs/spark.log).",
)
@click.version_option(package_name="stophacking")
@click.pass_context
def main(
    ctx: click.Context,
    bootstrap_servers: str | None,
    kafka_options: tuple[str, ...],
    spark_master: str | None,
    home: str | None,
    verbose: bool | None,
) -> None:
    """StopHacking: real-time intrusion detection on Kafka and Spark."""
    overrides: dict[str, Any] = {
        "kafka.bootstrap_servers": bootstrap_servers,
        "spark.master": spark_master,
        "spark.verbose": verbose,
        "home": home,
    }
    settings = load_settings(overrides)
    if kafka_options:
        extra = dict(settings.kafka.extra)
        for option in kafka_options:
            key, sep, value = option.partition("=")
            if not sep:
                raise click.BadParameter(f"expected KEY=VALUE, got {option!r}")
            extra[key.strip()] = _coerce(value.strip())
        settings = replace(settings, {"kafka.extra": extra})
    ctx.obj = {"settings": settings}


def _coerce(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


# -- setup -----------------------------------------------------------------------------
@main.command()
@click.option(
    "--no-models", is_flag=True, help="Do not train the default models when they are missing."
)
@click.pass_context
def setup(ctx: click.Context, no_models: bool) -> None:
    """Resolve the jars from Maven Central (once); train the default models if missing."""
    from pipelines.broker.embedded import resolve_broker_jars
    from pipelines.spark.session import resolve_connector_jars, resolve_local_fs_jars

    settings = _settings(ctx)
    broker_jars = resolve_broker_jars(settings)
    connector_jars = resolve_connector_jars(settings)
    click.echo(f"broker jars:    {len(broker_jars)} in {broker_jars[0].parent}")
    click.echo(f"connector jars: {len(connector_jars)} in {connector_jars[0].parent}")
    if settings.spark.nio_local_fs:
        local_fs_jars = resolve_local_fs_jars(settings)
        click.echo(f"local fs jar:   {len(local_fs_jars)} in {local_fs_jars[0].parent}")
    if not no_models:
        from pipelines.training.console import ensure_models_command

        ensure_models_command(settings, echo=click.echo)


# -- broker ----------------------------------------------------------------------------
@main.group()
def broker() -> None:
    """The embedded Kafka broker (KRaft), or an embedded cluster of several."""


@broker.command("start")
@click.option(
    "--brokers",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="Nodes on this machine; 3 makes a replicated cluster (each a broker and a "
    "controller; node i on broker port + 2(i-1)).",
)
@click.pass_context
def broker_start(ctx: click.Context, brokers: int) -> None:
    """Start the embedded broker (or cluster) in the background (no-op if it runs)."""
    from pipelines.broker import EmbeddedBroker, EmbeddedCluster

    settings = _settings(ctx)
    if brokers == 1:
        embedded = EmbeddedBroker(settings)
        seconds = embedded.start()
        status = embedded.status()
        click.echo(
            f"embedded Kafka broker ready at {status.bootstrap_servers} "
            f"(pid {status.pid}, {seconds:.1f} s); log: {status.log_file}"
        )
        return
    cluster = EmbeddedCluster(settings, brokers)
    seconds = cluster.start()
    for node in cluster.status():
        click.echo(
            f"node {node.node_id} ready at {node.bootstrap_servers} (pid {node.pid}); "
            f"log: {node.log_file}"
        )
    kafka = cluster.kafka_settings
    click.echo(f"embedded Kafka cluster of {brokers} ready in {seconds:.1f} s; to use it:")
    click.echo(f"  export STOPHACKING_KAFKA__BOOTSTRAP_SERVERS={kafka.bootstrap_servers}")
    click.echo(f"  export STOPHACKING_KAFKA__REPLICATION_FACTOR={kafka.replication_factor}")
    click.echo(f"  export STOPHACKING_KAFKA__MIN_INSYNC_REPLICAS={kafka.min_insync_replicas}")


@broker.command("stop")
@click.pass_context
def broker_stop(ctx: click.Context) -> None:
    """Stop the embedded broker and every node of an embedded cluster (SIGTERM, then wait)."""
    from pipelines.broker import EmbeddedBroker, EmbeddedCluster

    settings = _settings(ctx)
    stopped = EmbeddedBroker(settings).stop()
    cluster = EmbeddedCluster.found(settings)
    nodes = cluster.stop() if cluster is not None else False
    if nodes and cluster is not None:
        click.echo(f"embedded Kafka cluster of {len(cluster.nodes)} stopped")
    if stopped or not nodes:
        click.echo(
            "embedded Kafka broker stopped" if stopped else "embedded Kafka broker was not running"
        )


@broker.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def broker_status(ctx: click.Context, as_json: bool) -> None:
    """Show the broker in use and its topics (and an embedded cluster's nodes); exit 1
    when none answers."""
    from pipelines import kafka_io
    from pipelines.broker import EmbeddedBroker, EmbeddedCluster
    from pipelines.errors import BrokerUnavailable

    settings = _settings(ctx)
    embedded = EmbeddedBroker(settings)
    pid = (
        embedded.status().pid
        if settings.kafka.bootstrap_servers == embedded.bootstrap_servers
        else None
    )
    cluster = EmbeddedCluster.found(settings)
    nodes = [
        {"node_id": n.node_id, "address": n.bootstrap_servers, "pid": n.pid, "up": n.running}
        for n in (cluster.status() if cluster is not None else [])
    ]
    try:
        topics = kafka_io.list_topics(settings.kafka)
        running = True
    except BrokerUnavailable:
        topics, running = [], False
    report = {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "reachable": running,
        "embedded_pid": pid,
        "topics": topics,
        "cluster_nodes": nodes,
    }
    if as_json:
        click.echo(json.dumps(report))
        if not running:
            sys.exit(1)
        return
    if running:
        kind = f"embedded, pid {pid}" if pid else "external"
        click.echo(f"Kafka at {settings.kafka.bootstrap_servers} is up ({kind})")
        click.echo(f"topics ({len(topics)}): {', '.join(topics) if topics else '(none)'}")
    else:
        click.echo(f"no Kafka broker answers at {settings.kafka.bootstrap_servers}")
    for node in nodes:
        state = f"up, pid {node['pid']}" if node["up"] else "down"
        click.echo(f"embedded cluster node {node['node_id']} at {node['address']}: {state}")
    if not running:
        sys.exit(1)


# Later capabilities register their commands below (data, produce, watch, train, detect).


# -- data ------------------------------------------------------------------------------
@main.group()
def data() -> None:
    """Synthetic telemetry: generate a data set, compare files with the real ones."""


def _machine_list(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        machines = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected machine ids like 4,5,6, got {value!r}") from None
    if not machines:
        raise click.BadParameter("at least one machine id is needed")
    return machines


@data.command("generate")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write."
)
@click.option("--seed", default=7, show_default=True, help="Seed of every random draw.")
@click.option(
    "--machines",
    default="4,5,6,7,8",
    show_default=True,
    callback=_machine_list,
    help="Machine ids, comma-separated.",
)
@click.option(
    "--rows-per-machine",
    type=click.IntRange(min=10),
    help="Process rows of a full-length machine (default 7400; machine 6 gets about 1/5).",
)
@click.option(
    "--labelled-rows",
    type=click.IntRange(min=10),
    help="Rows of the labelled process file (default 20000).",
)
def data_generate(
    out: str,
    seed: int,
    machines: tuple[int, ...],
    rows_per_machine: int | None,
    labelled_rows: int | None,
) -> None:
    """Write streaming files, ground truth and labelled training files to OUT."""
    from pathlib import Path

    from pipelines.data.generator import generate

    files = generate(
        Path(out),
        seed=seed,
        machines=machines,
        rows_per_machine=rows_per_machine,
        labelled_rows=labelled_rows,
        progress=sys.stderr.isatty(),
    )
    for path in (
        files.process,
        files.memory,
        files.process_labels,
        files.memory_labels,
        files.labelled_process,
        files.labelled_memory,
    ):
        click.echo(str(path))


@data.command("compare")
@click.argument("generated_csv", type=click.Path(dir_okay=False, exists=True))
@click.argument("real_csv", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--pair",
    nargs=2,
    type=click.Path(dir_okay=False, exists=True),
    metavar="GENERATED_OTHER REAL_OTHER",
    help="The other stream of both data sets: adds the shared-key figure.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", is_flag=True, help="Exit 1 when a figure exceeds its limit.")
def data_compare(
    generated_csv: str,
    real_csv: str,
    pair: tuple[str, str] | None,
    as_json: bool,
    check: bool,
) -> None:
    """Distances between GENERATED_CSV and REAL_CSV, column by column and jointly."""
    from pathlib import Path

    from pipelines.data.compare import compare_files

    try:
        comparison = compare_files(
            Path(generated_csv),
            Path(real_csv),
            generated_other=Path(pair[0]) if pair else None,
            reference_other=Path(pair[1]) if pair else None,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(comparison.to_dict(), indent=2) if as_json else comparison.table())
    if check and not comparison.ok:
        sys.exit(1)


# -- produce ---------------------------------------------------------------------------
def _produce_options(command: Any) -> Any:
    """The options both producers share (SPEC §3)."""
    options = [
        click.option(
            "--file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Streaming CSV to replay (default: the generated demo data).",
        ),
        click.option("--cycles", type=click.IntRange(min=0), help="Stop after N cycles."),
        click.option(
            "--duration", type=click.FloatRange(min=0), help="Stop after S seconds (wall time)."
        ),
        click.option("--seed", type=int, help="Seed of the random row counts (reproducible)."),
        click.option(
            "--speed",
            type=click.FloatRange(min=0, min_open=True),
            default=1.0,
            show_default=True,
            help="Divide the cycle period by K.",
        ),
        click.option("--max-rate", is_flag=True, help="No pacing: send as fast as Kafka accepts."),
        click.option(
            "--clock",
            type=click.Choice(["wall", "simulated"]),
            default="wall",
            show_default=True,
            help="ts from wall time, or a simulated clock advancing one period per cycle.",
        ),
        click.option(
            "--start-ts", type=float, help="First ts of the simulated clock (UTC unix seconds)."
        ),
        click.option("--topic", help="Topic to write (default: from the settings)."),
        click.option(
            "--layout",
            type=click.Choice(["record", "array"]),
            default="record",
            show_default=True,
            help="One JSON object per message, or one JSON array of a machine's rows per "
            "cycle (key = machine): the layout for large fleets.",
        ),
        click.option(
            "--skip-bad-rows",
            is_flag=True,
            help="Leave out CSV rows that cannot be sent (counted in the summary) instead "
            "of stopping at the first with its file, line and column.",
        ),
        click.option(
            "--progress",
            type=click.Choice(["bar", "json", "none"]),
            default="bar",
            show_default=True,
            help="Live progress line, JSON lines on stdout (for the workbench), or none.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.group()
def produce() -> None:
    """Replay streaming telemetry onto Kafka (process every 5 s, memory every 10 s)."""


def _run_producer(ctx: click.Context, stream: str, options: dict[str, Any]) -> None:
    from pipelines.replay.console import produce as run_producer

    code = run_producer(
        _settings(ctx),
        stream,  # type: ignore[arg-type]
        file=options["file"],
        cycles=options["cycles"],
        duration_s=options["duration"],
        seed=options["seed"],
        speed=options["speed"],
        max_rate=options["max_rate"],
        clock=options["clock"],
        start_ts=options["start_ts"],
        topic=options["topic"],
        layout=options["layout"],
        progress=options["progress"],
        skip_bad_rows=options["skip_bad_rows"],
    )
    sys.exit(code)


@produce.command("process")
@_produce_options
@click.pass_context
def produce_process(ctx: click.Context, **options: Any) -> None:
    """Send each machine's next 10..50 process rows every 5 s."""
    _run_producer(ctx, "process", options)


@produce.command("memory")
@_produce_options
@click.pass_context
def produce_memory(ctx: click.Context, **options: Any) -> None:
    """Send each machine's next 20..80 memory rows every 10 s (plus 0..5 late ones)."""
    _run_producer(ctx, "memory", options)


# -- agent -----------------------------------------------------------------------------
@main.command()
@click.option(
    "--machine",
    type=click.IntRange(min=0),
    help="Machine id of this host's rows (default: derived from the host name, printed).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds between samples (default: agent.interval_s, 10).",
)
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after S seconds.")
@click.option("--intervals", type=click.IntRange(min=1), help="Stop after N intervals.")
@click.option("--process-topic", help="Topic of the process rows (default: from the settings).")
@click.option("--memory-topic", help="Topic of the memory rows (default: from the settings).")
@click.option(
    "--progress",
    type=click.Choice(["text", "json", "none"]),
    default="text",
    show_default=True,
    help="A line per report on stderr, JSON lines on stdout (for the workbench), or none.",
)
@click.pass_context
def agent(
    ctx: click.Context,
    machine: int | None,
    interval: float | None,
    duration: float | None,
    intervals: int | None,
    process_topic: str | None,
    memory_topic: str | None,
    progress: str,
) -> None:
    """Publish THIS host's processes live, as atop's process and memory rows (docs/agent.md).

    One process row and one memory row per process every interval, onto the process
    and memory topics, in the producers' layout: the detector, the live views and the
    workbench show this machine among the others.
    """
    import json
    import threading

    from pipelines.agent.run import LIVE_SOURCE, Agent, AgentReport
    from pipelines.signals import stop_on_signals

    topics = {"process": process_topic, "memory": memory_topic}
    settings = with_overrides(
        ctx, {f"kafka.topics.{stream}": topic for stream, topic in topics.items() if topic}
    )
    shown = {"intervals": 0}

    def report(update: AgentReport) -> None:
        if progress == "json":
            click.echo(json.dumps(update.to_json()))
        elif progress == "text" and not update.done and update.intervals > shown["intervals"]:
            shown["intervals"] = update.intervals  # one line per interval
            click.echo(update.summary_lines()[0], err=True)

    runner = Agent(settings, machine=machine, interval_s=interval, on_progress=report)
    stop = threading.Event()
    if progress == "json":
        click.echo(
            json.dumps(
                {
                    "event": "start",
                    "stream": "agent",
                    "machine": runner.machine,
                    "run_id": runner.run_id,
                    "topic": " + ".join(runner.topics.values()),
                    "file": LIVE_SOURCE,
                }
            )
        )
    else:
        click.echo(
            f"agent: this host is machine {runner.machine}; sampling every "
            f"{runner.interval_s:g} s onto {settings.kafka.bootstrap_servers} "
            f"({', '.join(runner.topics.values())})",
            err=True,
        )
    with stop_on_signals(stop):
        final = runner.run(duration_s=duration, intervals=intervals, stop=stop)
    if progress != "json":
        for line in final.summary_lines():
            click.echo(line)
        if not final.exits_heard:
            click.echo("agent: exit codes were not available (needs root): EXC 0", err=True)
    sys.exit(0 if final.dropped == 0 and final.waiting == 0 else 1)


# -- watch -----------------------------------------------------------------------------
@main.command()
@click.argument("stream", type=click.Choice(["process", "memory"]))
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds."
)
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the chart as a PNG at the end (HoloViews, matplotlib backend).",
)
@click.option("--window", type=click.FloatRange(min=0, min_open=True), help="Trailing window, s.")
@click.option("--sample", type=click.FloatRange(min=0, min_open=True), help="Sample period, s.")
@click.option("--from-beginning", is_flag=True, default=None, help="Read the topic from the start.")
@click.pass_context
def watch(
    ctx: click.Context,
    stream: str,
    duration: float | None,
    png: Path | None,
    window: float | None,
    sample: float | None,
    from_beginning: bool | None,
) -> None:
    """Records per machine in the trailing window (arrival time), as a live table."""
    from pipelines.live.watch import watch as run_watch

    run_watch(
        _settings(ctx),
        stream,  # type: ignore[arg-type]
        duration_s=duration,
        window_s=window,
        sample_s=sample,
        from_beginning=from_beginning,
        png=png,
        redraw=sys.stdout.isatty(),
        echo=click.echo,
    )


# -- train -----------------------------------------------------------------------------
@main.command()
@click.option(
    "--process",
    "process_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled process CSV (TON_IoT layout), repeatable.",
)
@click.option(
    "--memory",
    "memory_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled memory CSV (TON_IoT layout), repeatable.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for process_pipeline_model/ and memory_pipeline_model/ (default: models/).",
)
@click.option("--seed", type=int, help="Split and learner seed (default 42).")
@click.option(
    "--family",
    "families",
    multiple=True,
    metavar="NAME",
    help="Model family to compare, repeatable: gbt, random_forest, logistic_regression "
    "(default: gbt and random_forest).",
)
@click.pass_context
def train(
    ctx: click.Context,
    process_files: tuple[Path, ...],
    memory_files: tuple[Path, ...],
    out_dir: Path | None,
    seed: int | None,
    families: tuple[str, ...],
) -> None:
    """Train, compare and evaluate the process and memory models (no files: demo data)."""
    from pipelines.training.console import train_command

    sys.exit(
        train_command(
            _settings(ctx),
            process_files=process_files,
            memory_files=memory_files,
            out_dir=out_dir,
            seed=seed,
            families=families,
            echo=click.echo,
        )
    )


# -- detect ----------------------------------------------------------------------------
@main.command()
@click.option(
    "--process-model", type=click.Path(file_okay=False, path_type=Path), help="Model folder."
)
@click.option(
    "--memory-model", type=click.Path(file_okay=False, path_type=Path), help="Model folder."
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Parquet outputs root (default <home>/detector).",
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Checkpoints root; keep it to resume (default <home>/checkpoints/detector).",
)
@click.option(
    "--trigger",
    type=click.FloatRange(min=0, min_open=True),
    help="Micro-batch interval, seconds (default 5; env STOPHACKING_DETECTOR__TRIGGER_S).",
)
@click.option("--master", metavar="URL", help="Spark master (same as --spark-master).")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds."
)
@click.option(
    "--ground-truth",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder with Streaming_Linux_<stream>.labels.csv: print precision, recall and F1 "
    "when the run stops (default: the demo data's, when the default data is in use).",
)
@click.option("--no-ground-truth", is_flag=True, help="Do not report detection quality at the end.")
@click.pass_context
def detect(
    ctx: click.Context,
    process_model: Path | None,
    memory_model: Path | None,
    output_dir: Path | None,
    checkpoint_dir: Path | None,
    trigger: float | None,
    master: str | None,
    duration: float | None,
    ground_truth: Path | None,
    no_ground_truth: bool,
) -> None:
    """Streaming detector: clean, score, count per window, pair attacks (SPEC §5)."""
    from pipelines.detector.console import detect as run_detect

    # Flags override settings.detector (and the env behind it); unset flags fall through.
    settings = with_overrides(
        ctx,
        {
            "spark.master": master,
            "detector.trigger_s": trigger,
            "detector.output_dir": output_dir,
            "detector.checkpoint_dir": checkpoint_dir,
        },
    )
    code = run_detect(
        settings,
        process_model=process_model,
        memory_model=memory_model,
        duration_s=duration,
        ground_truth=None if no_ground_truth else ground_truth,
        auto_ground_truth=not no_ground_truth,
        out=sys.stdout,
    )
    sys.exit(code)


# -- bench -----------------------------------------------------------------------------
@main.group()
def bench() -> None:
    """Throughput benchmarks (SPEC §8: measured by commands, not by timed tests)."""
    from pipelines.signals import interrupt_on_sigterm

    # A killed benchmark stops the producers, consumers and detector it started.
    interrupt_on_sigterm()


@contextmanager
def _bench_broker(settings: Settings) -> Iterator[None]:
    """The configured broker if it answers, else the embedded one for the run's length."""
    from pipelines.broker import broker_for_run

    with broker_for_run(settings) as choice:
        if choice.started_now:
            click.echo(f"bench: started the {choice.description} for this run")
        yield


@bench.command("detector")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder with Streaming_Linux_{process,memory}.csv (default: the demo data).",
)
@click.option(
    "--records",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Measured backlog, records per stream.",
)
@click.option(
    "--warmup-records",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Warm-up backlog per stream of the later runs; the first run's is as large as "
    "--records (its batch is not timed as the drain).",
)
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--layout",
    type=click.Choice(["record", "array"]),
    default="record",
    show_default=True,
    help="The producers' message layout.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def bench_detector(
    ctx: click.Context,
    data_dir: Path | None,
    records: int,
    warmup_records: int,
    runs: int,
    layout: str,
    json_out: Path | None,
) -> None:
    """Detector records/s draining a backlog with every output on, beside a ceiling."""
    from pipelines.bench.detector import measure_detector_rate

    settings = without_console_progress(_settings(ctx))
    with _bench_broker(settings):
        result = measure_detector_rate(
            settings,
            data_dir=data_dir,
            records_per_stream=records,
            warmup_records=warmup_records,
            runs=runs,
            layout=layout,  # type: ignore[arg-type]
            echo=click.echo,
        )
    for line in result.summary_lines():
        click.echo(line)
    if json_out is not None:
        from pipelines.bench.report import drain_json

        json_out.write_text(drain_json(result))


@bench.command("fleet")
@click.option(
    "--machines", type=click.IntRange(min=1), default=500, show_default=True, help="Hosts."
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Measured seconds (after the warm-up).",
)
@click.option(
    "--warmup",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds of load before the measured window.",
)
@click.option(
    "--layout",
    type=click.Choice(["record", "array"]),
    default="array",
    show_default=True,
    help="The producers' message layout.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--progress-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every query progress of the run here (JSON lines), for profiling.",
)
@click.pass_context
def bench_fleet(
    ctx: click.Context,
    machines: int,
    duration: float,
    warmup: float,
    layout: str,
    seed: int,
    json_out: Path | None,
    progress_out: Path | None,
) -> None:
    """N hosts at the brief's cadence: producers, live consumers and the detector here;
    latency percentiles (send → scored, 7a, alert), lag, CPU and memory per part."""
    from pipelines.bench.fleet import FleetOptions, fleet_json, measure_fleet, result_lines

    settings = without_console_progress(_settings(ctx))
    with _bench_broker(settings):
        result = measure_fleet(
            settings,
            FleetOptions(
                machines=machines,
                duration_s=duration,
                warmup_s=warmup,
                layout=layout,  # type: ignore[arg-type]
                seed=seed,
                progress_out=progress_out,
            ),
            echo=click.echo,
        )
    for line in result_lines(result):
        click.echo(line)
    if json_out is not None:
        json_out.write_text(fleet_json(result))


@bench.command("all")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/benchmarks.md"),
    show_default=True,
    help="The report (its raw figures go beside it as .json).",
)
@click.option("--quick", is_flag=True, help="Short runs (a smoke test of the benchmarks).")
@click.pass_context
def bench_all(ctx: click.Context, out: Path, quick: bool) -> None:
    """Every benchmark (make bench): drain, fleet of 500, the brief's 5 machines; writes
    the report and its JSON."""
    from pipelines.bench.report import run_all

    settings = without_console_progress(_settings(ctx))
    with _bench_broker(settings):
        run_all(settings, out, quick=quick, echo=click.echo)


# -- demo ------------------------------------------------------------------------------
@main.command()
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=120.0,
    show_default=True,
    help="Seconds the producers replay.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Divide both producers' cycle periods by X.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the row counts.")
@click.option(
    "--trigger",
    type=click.FloatRange(min=0, min_open=True),
    help="Detector ingest micro-batch interval, seconds (default: settings.detector.trigger_s).",
)
@click.option(
    "--demo-home",
    "demo_home",
    type=click.Path(file_okay=False, path_type=Path),
    help="The demo's state folder (default <home>/demo).",
)
@click.option("--keep-topics", is_flag=True, help="Keep this run's topics on the broker.")
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary to this file as JSON.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    duration: float,
    speed: float,
    seed: int,
    trigger: float | None,
    demo_home: Path | None,
    keep_topics: bool,
    summary_json: Path | None,
) -> None:
    """Bounded end-to-end run: broker, producers, live pipelines, detector; a summary."""
    from pipelines.demo.console import demo as run_demo
    from pipelines.demo.run import DemoOptions

    options = DemoOptions(
        duration_s=duration,
        speed=speed,
        seed=seed,
        home=demo_home,
        trigger_s=trigger,
        keep_topics=keep_topics,
    )
    sys.exit(run_demo(_settings(ctx), options, summary_json=summary_json, out=sys.stdout))


if __name__ == "__main__":
    main()
