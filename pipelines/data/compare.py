"""How far a telemetry file is from another: per-column and joint-structure distances.

Pure (pandas + scipy). ``stophacking data compare`` reads the two files with the schema's
parser and prints these figures; the realism tests hold the generator to the limits below.

Per column: the Kolmogorov–Smirnov statistic for numbers, the total-variation distance for
categories (POLI, Status, State) and, for CMD, the overlap of the 20 most frequent values.
Joint structure (what per-column figures cannot see): distinct PIDs per (machine, CMD),
rows per (machine, PID), the share of memory rows with VGROW/RGROW ≠ 0 after a process's
first row, and, given both streams, the share of one host's (CMD, PID) keys present in
both of its logs. Only machines present in both files are compared (the reference sample
has 4–7).

Which memory machine is which process machine is matched, not assumed
(:func:`host_pairs`): the reference sample's two files number their hosts differently.
Matched by their keys, process machine 5 is memory machine 4 (84 % of their keys in
both), process 7 is memory 5 (78 %) and process 6 is memory 6 (27 %; its memory rows
cover less of the capture), while process 5 and memory 5, or process 7 and memory 7,
share no key. Taken as numbered, the sample's figure was 3.8 %: a measure of the
numbering, not of the logs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, Literal

import pandas as pd
from scipy import stats

from pipelines.schema.columns import FLOAT_COLUMNS, INTEGER_COLUMNS, Stream

Measure = Literal["ks", "tv", "top20_overlap", "abs_diff"]

KS_LIMIT: Final = 0.1
"""Per numeric column: the largest gap between the two distributions (issue 18)."""
TV_LIMIT: Final = 0.1
"""Per categorical column: total-variation distance (issue 18)."""
TOP_CMD_COUNT: Final = 20
TOP_CMD_OVERLAP_MIN: Final = 0.5
JOINT_LIMIT: Final = 0.25
"""The joint distributions (distinct PIDs per program, rows per PID): KS, looser, as they
pool a few hundred programs and PIDs per file rather than thousands of rows."""
SHARE_LIMIT: Final = 0.05
"""The two shares (growth after a first row, keys in both logs): within 5 points."""
HOST_MATCH_MIN: Final = 0.1
"""Two machines of the two logs are one host when at least this share of their keys is in
both (different hosts of the sample share under 5 %)."""

IDENTITY: Final = frozenset({"sequence", "machine"})
"""Not compared column by column: they number rows, they do not describe processes."""
CATEGORIES: Final[tuple[str, ...]] = ("POLI", "Status", "State")
KEY: Final[tuple[str, ...]] = ("machine", "CMD", "PID")
"""One program run: atop's CMD and PID on one machine."""


@dataclass(frozen=True)
class Distance:
    """One figure of a comparison.

    Attributes:
        name: the column, or the joint measure's name.
        measure: ``ks``, ``tv``, ``top20_overlap`` (higher is closer) or ``abs_diff``.
        value: the distance (or the overlap).
        limit: the realism limit for it.
        generated: the generated side's value where the measure is a difference of two
            shares (``abs_diff``), else None.
        reference: likewise for the reference side.
    """

    name: str
    measure: Measure
    value: float
    limit: float
    generated: float | None = None
    reference: float | None = None

    @property
    def ok(self) -> bool:
        """Within the limit (an overlap must reach it, a distance must stay below)."""
        if self.measure == "top20_overlap":
            return self.value >= self.limit
        return self.value <= self.limit


@dataclass(frozen=True)
class Comparison:
    """All figures of one comparison (see the module docstring)."""

    stream: Stream
    generated: str
    reference: str
    machines: tuple[int, ...]
    rows: tuple[int, int]
    columns: tuple[Distance, ...]
    joint: tuple[Distance, ...]

    @property
    def ok(self) -> bool:
        """Every figure within its limit."""
        return all(d.ok for d in (*self.columns, *self.joint))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``ok`` added to every figure)."""
        return {
            "stream": self.stream,
            "generated": self.generated,
            "reference": self.reference,
            "machines": list(self.machines),
            "rows": {"generated": self.rows[0], "reference": self.rows[1]},
            "ok": self.ok,
            "columns": [{**asdict(d), "ok": d.ok} for d in self.columns],
            "joint": [{**asdict(d), "ok": d.ok} for d in self.joint],
        }

    def table(self) -> str:
        """A plain-text table, one figure per line."""
        scope = "machines " + ", ".join(map(str, self.machines)) if self.machines else "all rows"
        lines = [
            f"{self.stream}: {self.generated} vs {self.reference} ({scope}; "
            f"{self.rows[0]} vs {self.rows[1]} rows)",
            f"{'figure':<28} {'measure':<14} {'value':>8} {'limit':>8}  ok",
        ]
        for distance in (*self.columns, *self.joint):
            sides = ""
            if distance.generated is not None and distance.reference is not None:
                sides = f"  ({distance.generated:.3f} vs {distance.reference:.3f})"
            lines.append(
                f"{distance.name:<28} {distance.measure:<14} {distance.value:>8.3f} "
                f"{distance.limit:>8.3f}  {'yes' if distance.ok else 'NO'}{sides}"
            )
        lines.append("all within limits" if self.ok else "some figures exceed their limits")
        return "\n".join(lines)


def ks_statistic(a: pd.Series, b: pd.Series) -> float:
    """Two-sample Kolmogorov–Smirnov statistic (missing values dropped; 1.0 if a side is
    empty)."""
    left, right = a.dropna().astype(float), b.dropna().astype(float)
    if left.empty or right.empty:
        return 1.0
    return float(stats.ks_2samp(left.to_numpy(), right.to_numpy()).statistic)


def total_variation(a: pd.Series, b: pd.Series) -> float:
    """Total-variation distance of two categorical distributions (½ Σ |p − q|)."""
    p = a.astype(str).value_counts(normalize=True)
    q = b.astype(str).value_counts(normalize=True)
    both = p.index.union(q.index)
    return float(0.5 * (p.reindex(both, fill_value=0) - q.reindex(both, fill_value=0)).abs().sum())


def top_overlap(a: pd.Series, b: pd.Series, count: int = TOP_CMD_COUNT) -> float:
    """Share of the ``count`` most frequent values of ``b`` that are also among ``a``'s."""
    top_a = set(a.value_counts().index[:count])
    top_b = list(b.value_counts().index[:count])
    return len(top_a.intersection(top_b)) / max(len(top_b), 1)


def pids_per_cmd(frame: pd.DataFrame) -> pd.Series:
    """Distinct PIDs per (machine, CMD): 1 for a daemon, many for forked workers."""
    return frame.groupby(["machine", "CMD"]).PID.nunique()


def rows_per_pid(frame: pd.DataFrame) -> pd.Series:
    """Rows per (machine, PID): long for daemons, one or two for short-lived processes."""
    return frame.groupby(["machine", "PID"]).size()


def growth_after_first_row(frame: pd.DataFrame) -> float:
    """Share of memory rows with VGROW or RGROW ≠ 0 that are not their process's first row.

    A process is (machine, CMD, PID); rows are taken in file order per machine.
    """
    ordered = frame.reset_index(drop=True)
    first = ~ordered.duplicated(list(KEY), keep="first")
    later = ordered[~first]
    if later.empty:
        return 0.0
    grows = (later.VGROW.fillna(0) != 0) | (later.RGROW.fillna(0) != 0)
    return float(grows.mean())


def _host_keys(frame: pd.DataFrame) -> dict[int, set[tuple[str, int]]]:
    return {
        int(machine): set(zip(rows.CMD, rows.PID, strict=True))
        for machine, rows in frame.groupby("machine")
    }


def _jaccard(a: set[tuple[str, int]], b: set[tuple[str, int]]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def host_pairs(process: pd.DataFrame, memory: pd.DataFrame) -> dict[int, int]:
    """Process machine → the memory machine that is the same host.

    Machines are paired greedily by the share of their (CMD, PID) keys found in both, each
    at most once, down to :data:`HOST_MATCH_MIN`; a machine without a partner that close
    is left out.
    """
    return _pair_hosts(_host_keys(process), _host_keys(memory))


def _pair_hosts(
    keys_p: dict[int, set[tuple[str, int]]], keys_m: dict[int, set[tuple[str, int]]]
) -> dict[int, int]:
    scored = sorted(
        ((_jaccard(kp, km), p, m) for p, kp in keys_p.items() for m, km in keys_m.items()),
        reverse=True,
    )
    pairs: dict[int, int] = {}
    for share, p, m in scored:
        if share < HOST_MATCH_MIN:
            break
        if p not in pairs and m not in pairs.values():
            pairs[p] = m
    return pairs


def shared_key_share(process: pd.DataFrame, memory: pd.DataFrame) -> float:
    """Share of (CMD, PID) keys, over both logs of each host, that appear in both.

    Hosts are paired by :func:`host_pairs`; the share pools the paired hosts' keys (0 when
    no machine has a partner).
    """
    keys_p, keys_m = _host_keys(process), _host_keys(memory)
    shared = union = 0
    for p, m in _pair_hosts(keys_p, keys_m).items():
        shared += len(keys_p[p] & keys_m[m])
        union += len(keys_p[p] | keys_m[m])
    return shared / union if union else 0.0


def stream_of(frame: pd.DataFrame) -> Stream:
    """``memory`` if the frame has memory columns, else ``process``."""
    return "memory" if "RSIZE" in frame.columns else "process"


def _common_machines(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, ...]:
    if "machine" not in a.columns or "machine" not in b.columns:
        return ()
    return tuple(sorted(set(a.machine.dropna().astype(int)) & set(b.machine.dropna().astype(int))))


def _on_machines(frame: pd.DataFrame, machines: tuple[int, ...]) -> pd.DataFrame:
    if not machines:
        return frame
    return frame[frame.machine.isin(machines)]


def _difference(name: str, generated: float, reference: float) -> Distance:
    return Distance(name, "abs_diff", abs(generated - reference), SHARE_LIMIT, generated, reference)


def compare_frames(
    generated: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    generated_other: pd.DataFrame | None = None,
    reference_other: pd.DataFrame | None = None,
    generated_name: str = "generated",
    reference_name: str = "reference",
) -> Comparison:
    """Compare two typed telemetry frames of the same stream.

    Args:
        generated: the frame under test (typed as :func:`load_frame` returns it).
        reference: the frame to compare with (e.g. the real sample).
        generated_other: the other stream of ``generated``'s data set, for the shared-key
            figure (optional; both others must be given for it).
        reference_other: the other stream of ``reference``'s data set.
        generated_name: label of ``generated`` in the report.
        reference_name: label of ``reference`` in the report.

    Returns:
        The comparison restricted to machines present in both frames (all rows when a
        frame has no machine column).

    Raises:
        ValueError: the two frames are of different streams.
    """
    stream = stream_of(generated)
    if stream_of(reference) != stream:
        raise ValueError(f"cannot compare a {stream} file with a {stream_of(reference)} file")
    machines = _common_machines(generated, reference)
    gen, ref = _on_machines(generated, machines), _on_machines(reference, machines)
    columns: list[Distance] = []
    for name in gen.columns:
        if name in IDENTITY or name not in ref.columns:
            continue
        if name in INTEGER_COLUMNS or name in FLOAT_COLUMNS:
            columns.append(Distance(name, "ks", ks_statistic(gen[name], ref[name]), KS_LIMIT))
        elif name in CATEGORIES:
            columns.append(Distance(name, "tv", total_variation(gen[name], ref[name]), TV_LIMIT))
        elif name == "CMD":
            columns.append(
                Distance(
                    name, "top20_overlap", top_overlap(gen[name], ref[name]), TOP_CMD_OVERLAP_MIN
                )
            )
    joint: list[Distance] = []
    if machines:
        joint.append(
            Distance(
                "distinct_pids_per_cmd",
                "ks",
                ks_statistic(pids_per_cmd(gen), pids_per_cmd(ref)),
                JOINT_LIMIT,
            )
        )
        joint.append(
            Distance(
                "rows_per_pid",
                "ks",
                ks_statistic(rows_per_pid(gen), rows_per_pid(ref)),
                JOINT_LIMIT,
            )
        )
        if stream == "memory":
            joint.append(
                _difference(
                    "growth_after_first_row",
                    growth_after_first_row(gen),
                    growth_after_first_row(ref),
                )
            )
        if generated_other is not None and reference_other is not None:
            gen_o = _on_machines(generated_other, machines)
            ref_o = _on_machines(reference_other, machines)
            if stream == "process":
                shared = (shared_key_share(gen, gen_o), shared_key_share(ref, ref_o))
            else:
                shared = (shared_key_share(gen_o, gen), shared_key_share(ref_o, ref))
            joint.append(_difference("shared_keys_both_streams", *shared))
    return Comparison(
        stream=stream,
        generated=generated_name,
        reference=reference_name,
        machines=machines,
        rows=(len(gen), len(ref)),
        columns=tuple(columns),
        joint=tuple(joint),
    )


def compare_files(
    generated: Path,
    reference: Path,
    *,
    generated_other: Path | None = None,
    reference_other: Path | None = None,
) -> Comparison:
    """Read two telemetry CSVs with the schema parser and compare them.

    Args:
        generated: the CSV under test.
        reference: the CSV to compare with.
        generated_other: the other stream's CSV of ``generated``'s data set (optional).
        reference_other: the other stream's CSV of ``reference``'s data set (optional).

    Raises:
        ParseError: a malformed file (one line naming file, line and column).
        ValueError: the files are of different streams.
    """
    from pipelines.data.csvfile import load_frame

    def load(path: Path | None) -> pd.DataFrame | None:
        return None if path is None else load_frame(path)

    return compare_frames(
        load_frame(generated),
        load_frame(reference),
        generated_other=load(generated_other),
        reference_other=load(reference_other),
        generated_name=str(generated),
        reference_name=str(reference),
    )
