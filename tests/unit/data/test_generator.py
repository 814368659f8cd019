"""The generator's structural facts, checked on a small generated set (plain values only)."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import CycleSettings, ReplaySettings
from pipelines.data.demo_set import ensure_demo_data
from pipelines.data.generator import (
    MEMORY_ROWS_PER_PROCESS_ROW,
    GeneratedFiles,
    files_in,
    generate,
)
from pipelines.replay.plan import CyclePlanner
from pipelines.schema.columns import (
    ATTACK_TYPES,
    GROUND_TRUTH_COLUMNS,
    LABELLED_COLUMNS,
    MEMORY_COLUMNS,
    PROCESS_COLUMNS,
)

ROWS = 1500
CORRELATION_WINDOW_S = 30


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"Status": str, "POLI": str, "CMD": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> GeneratedFiles:
    return generate(
        tmp_path_factory.mktemp("generated"), seed=3, rows_per_machine=ROWS, labelled_rows=8000
    )


@pytest.fixture(scope="module")
def process(files: GeneratedFiles) -> pd.DataFrame:
    return read(files.process)


@pytest.fixture(scope="module")
def memory(files: GeneratedFiles) -> pd.DataFrame:
    return read(files.memory)


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", seed=5, rows_per_machine=200, labelled_rows=300)
    second = generate(tmp_path / "b", seed=5, rows_per_machine=200, labelled_rows=300)
    other = generate(tmp_path / "c", seed=6, rows_per_machine=200, labelled_rows=300)
    for name in ("process", "memory", "process_labels", "labelled_memory"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes(), name
    assert first.process.read_bytes() != other.process.read_bytes()


def test_headers_are_the_schema_columns(files: GeneratedFiles) -> None:
    def header(path: Path) -> tuple[str, ...]:
        return tuple(path.read_text().splitlines()[0].split(","))

    assert header(files.process) == PROCESS_COLUMNS
    assert header(files.memory) == MEMORY_COLUMNS
    assert header(files.process_labels) == GROUND_TRUTH_COLUMNS
    assert header(files.memory_labels) == GROUND_TRUTH_COLUMNS
    assert header(files.labelled_process) == LABELLED_COLUMNS["process"]
    assert header(files.labelled_memory) == LABELLED_COLUMNS["memory"]


def test_sequences_number_each_machine_from_one(process: pd.DataFrame) -> None:
    for _, rows in process.groupby("machine"):
        assert rows.sequence.tolist() == list(range(1, len(rows) + 1))


def test_machine_6_is_much_shorter(process: pd.DataFrame, memory: pd.DataFrame) -> None:
    for frame in (process, memory):
        counts = frame.groupby("machine").size()
        assert counts[6] < 0.3 * counts.drop(6).min()
    assert set(process.machine) == {4, 5, 6, 7, 8}


def test_memory_view_has_seven_eighths_of_the_rows(
    process: pd.DataFrame, memory: pd.DataFrame
) -> None:
    ratio = memory.groupby("machine").size() / process.groupby("machine").size()
    expected = MEMORY_ROWS_PER_PROCESS_ROW
    assert ratio.between(expected - 0.03, expected + 0.03).all()


def test_daemons_keep_their_pid(process: pd.DataFrame) -> None:
    for cmd in ("Xorg", "nautilus", "irqbalance", "compiz"):
        pids = process[cmd == process.CMD].groupby("machine").PID.nunique()
        assert (pids == 1).all(), cmd


def test_workers_come_and_go(process: pd.DataFrame, memory: pd.DataFrame) -> None:
    both = pd.concat([process, memory])
    apache = both[both.CMD == "apache2"].groupby("machine").PID.nunique()
    assert apache.max() > 20
    kworkers = both[both.CMD.str.startswith("kworker/")]
    assert kworkers.PID.nunique() > 5
    rows_per_pid = both.groupby(["machine", "PID"]).size()
    assert (rows_per_pid <= 2).mean() > 0.2  # many processes are seen once or twice


def test_atop_rows_are_pri_100_nice_20(process: pd.DataFrame) -> None:
    atop = process[process.CMD == "atop"]
    assert len(atop) > 0.15 * len(process)
    assert (atop.PRI == 100).all() and (atop.NICE == 20).all()
    assert atop.groupby("machine").PID.nunique().min() >= 4


def test_finished_rows_look_like_atops(process: pd.DataFrame, memory: pd.DataFrame) -> None:
    finished = process[process.CMD.str.match(r"^<.*>$")]
    assert 0.005 < len(finished) / len(process) < 0.06
    assert (finished.PRI == 0).all() and (finished.NICE == 0).all()
    assert (finished.POLI == "0").all() and (finished.State == "E").all()
    assert set(finished.Status) <= {"NE", "-", "NS"}
    gone = memory[memory.CMD.str.match(r"^<.*>$")]
    assert len(gone) > 0
    assert (gone[["VSTEXT", "VSIZE", "RSIZE", "VGROW", "RGROW", "MEM"]] == 0).all(axis=None)
    assert (process[~process.CMD.str.startswith("<")].POLI == "norm").all()


def test_status_is_dash_on_machine_4_and_zero_elsewhere(process: pd.DataFrame) -> None:
    live = process[process.State != "E"]
    assert (live[live.machine == 4].Status == "-").all()
    others = live[live.machine != 4].Status.value_counts(normalize=True)
    assert others["0"] > 0.9
    assert set(others.index) <= {"0", "N"}


def test_vsize_keeps_unit_stripped_magnitudes(memory: pd.DataFrame) -> None:
    vsize = memory.VSIZE
    assert ((vsize > 0) & (vsize < 5)).mean() > 0.05  # gigabytes: nautilus 1.4, ostinato 2.5
    assert ((vsize >= 100) & (vsize < 1000)).mean() > 0.1  # megabytes: apache2 184.3
    assert (vsize >= 9000).mean() > 0.1  # kilobytes: irqbalance 19296
    assert set(memory[memory.CMD == "nautilus"].VSIZE) == {1.4}


def test_a_first_row_counts_the_whole_size_as_growth(memory: pd.DataFrame) -> None:
    first = ~memory.duplicated(["machine", "CMD", "PID"], keep="first")
    new = memory[first & (memory.VSIZE > 0)]
    assert (new.VGROW == new.VSIZE).all() and (new.RGROW == new.RSIZE).all()


def test_later_rows_grow_a_little_mostly_on_the_programs_that_do(memory: pd.DataFrame) -> None:
    first = ~memory.duplicated(["machine", "CMD", "PID"], keep="first")
    later = memory[~first]
    grows = (later.VGROW != 0) | (later.RGROW != 0)
    # The real sample: 9 % of later rows; atop 23 %, vmtoolsd 0.3 %.
    assert 0.04 < grows.mean() < 0.14
    by_cmd = grows.groupby(later.CMD).mean()
    assert by_cmd["atop"] > 0.15 and by_cmd["vmtoolsd"] < 0.03
    growing = later[grows]
    assert (growing.VGROW >= 0).all() and (growing.RGROW >= 0).all()
    assert (growing.VGROW % 4 == 0).all() and (growing.RGROW % 4 == 0).all()  # pages of 4 K
    assert growing.VGROW.median() < 200  # a few pages, not the whole size again


def test_ground_truth_lines_up_with_the_rows(files: GeneratedFiles, process: pd.DataFrame) -> None:
    truth = read(files.process_labels)
    assert truth[["machine", "sequence"]].equals(process[["machine", "sequence"]])
    assert set(truth.type) <= {"normal", *ATTACK_TYPES["process"]}
    assert ((truth.attack == 1) == (truth.type != "normal")).all()
    assert 0.05 < truth.attack.mean() < 0.2


def replay_times(frame: pd.DataFrame, rule: CycleSettings, seconds: float) -> pd.DataFrame:
    """Each row's event time ``ts`` when replayed by the producers' own cycle planner
    (simulated clock from 0), wrapping machines as they run out; one row per send."""
    row_counts = frame.groupby("machine").size().to_dict()
    planner = CyclePlanner(row_counts, rule, random.Random(1))
    sent = []
    for cycle in range(int(seconds / rule.cycle_period_s)):
        plan = planner.next_cycle(ts=cycle * rule.cycle_period_s)
        sent += [(row.machine, row.index, row.ts) for row in plan.rows]
    times = pd.DataFrame(sent, columns=["machine", "index", "ts"])
    rows = frame.assign(index=frame.sequence - 1)
    return times.merge(rows, on=["machine", "index"])


def test_attacks_meet_in_both_replayed_streams_within_30_s(
    files: GeneratedFiles, process: pd.DataFrame, memory: pd.DataFrame
) -> None:
    """Replayed as the producers do (SPEC §3), attacking processes of the memory attack
    types show in both streams with event times < 30 s apart (SPEC §5 7b), on every
    full-length machine and on every pass (30 min of replay wraps each file at least once).

    Rows labelled attack only because they ran during an attack (other daemons) need not
    meet, so the share of meeting keys is well below one."""
    replay = ReplaySettings()
    p = replay_times(process.assign(type=read(files.process_labels).type), replay.process, 1800)
    m = replay_times(memory.assign(type=read(files.memory_labels).type), replay.memory, 1800)
    p = p[p.type.isin(ATTACK_TYPES["memory"])]
    m = m[m.type != "normal"]
    pairs = p.merge(m, on=["machine", "CMD", "PID"], suffixes=("_p", "_m"))
    close = pairs[(pairs.ts_p - pairs.ts_m).abs() < CORRELATION_WINDOW_S]

    def keys_per_machine(frame: pd.DataFrame) -> pd.Series:
        return frame.drop_duplicates(["machine", "CMD", "PID"]).groupby("machine").size()

    met = keys_per_machine(close).reindex([4, 5, 7, 8], fill_value=0)
    share = met / keys_per_machine(p).reindex([4, 5, 7, 8])
    print(f"attack keys meeting within 30 s: {met.to_dict()}, share {share.round(2).to_dict()}")
    assert (met >= 10).all() and (share > 0.3).all()


def test_labelled_files_have_the_published_mix(files: GeneratedFiles) -> None:
    process = read(files.labelled_process)
    memory = read(files.labelled_memory)
    assert len(process) == 8000
    assert 0.10 < process.attack.mean() < 0.21  # ≈15 %; an 8k-row file holds few attacks
    assert 0.07 < memory.attack.mean() < 0.13
    assert set(process.type) == {"normal", *ATTACK_TYPES["process"]}
    assert set(memory.type) == {"normal", *ATTACK_TYPES["memory"]}
    assert process.ts.is_monotonic_increasing


def test_labelled_files_carry_atop_quirks(tmp_path: Path) -> None:
    files = generate(tmp_path, seed=11, rows_per_machine=50, labelled_rows=8000)
    process = pd.read_csv(files.labelled_process, dtype=str, keep_default_na=False)
    memory = pd.read_csv(files.labelled_memory, dtype=str, keep_default_na=False)
    numbers_p = process.drop(columns=["POLI", "Status", "State", "CMD", "type"])
    numbers_m = memory.drop(columns=["CMD", "type"])
    assert (numbers_p == "-").any(axis=None)
    assert (numbers_m == "-").any(axis=None)
    assert numbers_m.apply(lambda c: c.str.fullmatch(r"[0-9.]+[KM]")).any(axis=None)
    assert (numbers_p == "-").to_numpy().mean() < 0.01


def test_demo_data_is_generated_once(tmp_path: Path) -> None:
    from pipelines.config import load_settings

    settings = load_settings({"home": str(tmp_path)})
    folder = ensure_demo_data(settings)
    made = files_in(folder)
    stamp = made.process.stat().st_mtime_ns
    assert ensure_demo_data(settings) == folder
    assert made.process.stat().st_mtime_ns == stamp
    assert made.labelled_memory.is_file()


FIXTURES = Path(__file__).resolve().parents[3] / "assets" / "fixtures" / "synthetic"


def test_committed_fixtures_are_what_the_generator_makes(tmp_path: Path) -> None:
    """The tiny committed set must be reproducible (command in its README)."""
    made = generate(tmp_path, seed=7, rows_per_machine=60, labelled_rows=300)
    for path in (made.process, made.memory, made.process_labels, made.memory_labels,
                 made.labelled_process, made.labelled_memory):  # fmt: skip
        committed = FIXTURES / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: regenerate it with the command in {FIXTURES / 'README.md'}"
        )
        assert len(committed.read_text().splitlines()) <= 400


def test_producers_starting_together_on_a_fresh_folder_all_get_the_data(
    tmp_path: Path,
) -> None:
    """The workbench starts both producers at once (four here, to make the race likely);
    each generates the default data set when it is missing. Without taking turns one of
    them died renaming a ``.tmp`` file another had already moved (seen in the soak: the
    memory producer's exit code 1)."""
    import subprocess
    import sys

    code = (
        "from pipelines.config import load_settings; "
        "from pipelines.data.demo_set import ensure_demo_data; "
        f"print(ensure_demo_data(load_settings({{'home': {str(tmp_path)!r}}})))"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3])
        for _ in range(4)
    ]  # fmt: skip
    results = [child.communicate(timeout=300) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert out.strip().endswith("generated")
    made = files_in(Path(results[0][0].strip()))
    assert made.process.is_file() and made.labelled_memory.is_file()
    assert not list(made.process.parent.glob("*.tmp"))
