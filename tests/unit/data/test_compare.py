"""The compare measures on hand-made frames, and the error for a malformed CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.data.compare import (
    compare_frames,
    growth_after_first_row,
    host_pairs,
    shared_key_share,
    top_overlap,
    total_variation,
)
from pipelines.errors import ParseError


def memory_frame(rows: list[tuple[int, int, str, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["machine", "PID", "CMD", "VGROW", "RGROW"])
    frame["VSIZE"] = 1.0
    frame["RSIZE"] = 1
    return frame


def test_total_variation_of_two_category_mixes() -> None:
    a = pd.Series(["S"] * 9 + ["R"])
    b = pd.Series(["S"] * 7 + ["R"] * 2 + ["E"])
    assert total_variation(a, b) == pytest.approx(0.2)
    assert total_variation(a, a) == 0.0


def test_top_overlap_counts_shared_frequent_values() -> None:
    a = pd.Series(["atop"] * 5 + ["Xorg"] * 3 + ["cron"])
    b = pd.Series(["atop"] * 4 + ["compiz"] * 3 + ["cron"])
    assert top_overlap(a, b, count=2) == 0.5
    assert top_overlap(a, b, count=3) == pytest.approx(2 / 3)


def test_growth_after_first_row_ignores_each_process_first_row() -> None:
    frame = memory_frame(
        [
            (4, 10, "a", 5.0, 5.0),  # first row of (4, a, 10): growth allowed
            (4, 10, "a", 0.0, 0.0),
            (4, 10, "a", 0.0, 4.0),  # later row with growth
            (5, 10, "a", 7.0, 0.0),  # same PID on another machine: a first row
            (4, 11, "a", 0.0, 0.0),
        ]
    )
    assert growth_after_first_row(frame) == pytest.approx(0.5)


def test_shared_key_share_pools_the_keys_of_each_host_s_two_logs() -> None:
    process = pd.DataFrame({"machine": [4, 4, 5], "CMD": ["a", "b", "a"], "PID": [1, 2, 7]})
    memory = pd.DataFrame({"machine": [4, 5], "CMD": ["a", "c"], "PID": [1, 9]})
    # Host 4: keys a1, b2 | a1 -> 1 of 2 shared; machine 5 has no partner (nothing shared).
    assert host_pairs(process, memory) == {4: 4}
    assert shared_key_share(process, memory) == pytest.approx(1 / 2)


def test_hosts_are_paired_by_their_keys_not_their_numbers() -> None:
    # As in the reference sample: the memory file numbers process host 5 as 4, 7 as 5.
    daemons = [("Xorg", 1457), ("cron", 1389), ("compiz", 2777)]
    process = pd.DataFrame(
        [(5, cmd, pid) for cmd, pid in daemons] + [(7, cmd, pid + 40) for cmd, pid in daemons],
        columns=["machine", "CMD", "PID"],
    )
    memory = pd.DataFrame(
        [(4, cmd, pid) for cmd, pid in daemons] + [(5, cmd, pid + 40) for cmd, pid in daemons[:2]],
        columns=["machine", "CMD", "PID"],
    )
    assert host_pairs(process, memory) == {5: 4, 7: 5}
    assert shared_key_share(process, memory) == pytest.approx(5 / 6)


def test_compare_frames_reports_limits_and_only_common_machines() -> None:
    real = pd.DataFrame(
        {
            "sequence": [1, 2, 3, 1],
            "machine": [4, 4, 4, 5],
            "PID": [1, 1, 2, 3],
            "State": ["S", "S", "R", "S"],
            "CPU": [0.0, 0.01, 0.0, 0.0],
            "CMD": ["atop", "atop", "Xorg", "cron"],
        }
    )
    generated = pd.concat([real, real.assign(machine=8)])
    comparison = compare_frames(generated, real)
    assert comparison.machines == (4, 5)
    assert comparison.rows == (4, 4)
    assert comparison.ok
    by_name = {d.name: d for d in comparison.columns}
    assert set(by_name) == {"PID", "State", "CPU", "CMD"}
    assert by_name["CMD"].value == 1.0
    assert comparison.to_dict()["ok"] is True


def test_malformed_csv_is_one_line_naming_file_line_and_column(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "sequence,machine,PID,MINFLT,MAJFLT,VSTEXT,VSIZE,RSIZE,VGROW,RGROW,MEM,CMD\n"
        "1,4,10,0,0,1,1.0,1,0,0,0.0,a\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sequence,machine,PID,MINFLT,MAJFLT,VSTEXT,VSIZE,RSIZE,VGROW,RGROW,MEM,CMD\n"
        "1,4,10,0,0,1,1.0,1,0,0,0.0,a\n"
        "2,4,10,12x,0,1,1.0,1,0,0,0.0,a\n"
    )
    result = CliRunner().invoke(main, ["data", "compare", str(bad), str(good)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert str(bad) in lines[0] and "line 3" in lines[0] and "column MINFLT" in lines[0]


def test_compare_library_raises_parse_error_for_missing_column(tmp_path: Path) -> None:
    from pipelines.data.compare import compare_files

    bad = tmp_path / "short.csv"
    bad.write_text("sequence,machine,PID\n1,4,10\n")
    with pytest.raises(ParseError, match="line 1"):
        compare_files(bad, bad)


def test_cli_generates_then_compares_as_json(tmp_path: Path) -> None:
    import json

    runner = CliRunner()
    out = tmp_path / "set"
    made = runner.invoke(
        main,
        ["data", "generate", "--out", str(out), "--seed", "3", "--machines", "4,6",
         "--rows-per-machine", "300", "--labelled-rows", "200"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert len(made.output.splitlines()) == 6
    process, memory = out / "Streaming_Linux_process.csv", out / "Streaming_Linux_memory.csv"
    compared = runner.invoke(
        main,
        ["data", "compare", str(process), str(process), "--pair", str(memory), str(memory),
         "--json", "--check"],
    )  # fmt: skip
    assert compared.exit_code == 0, compared.output
    report = json.loads(compared.output)
    assert report["machines"] == [4, 6] and report["ok"] is True
    assert {d["name"] for d in report["joint"]} == {
        "distinct_pids_per_cmd",
        "rows_per_pid",
        "shared_keys_both_streams",
    }
    assert all(d["value"] == 0 for d in report["columns"] if d["measure"] == "ks")


def test_cli_rejects_a_bad_machine_list(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["data", "generate", "--out", str(tmp_path), "--machines", "4,x"]
    )
    assert result.exit_code == 2
    assert "machine ids" in result.output
