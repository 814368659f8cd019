"""The trailing-window counting core, driven by an injected clock (no Kafka, no streamz)."""

from __future__ import annotations

import pytest

from pipelines.live.counts import TOO_MANY_MACHINES, TrailingCounts

T0 = 1_800_000_000.0  # a multiple of every sample period used here


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_record_exactly_at_the_window_edge_has_left_the_window() -> None:
    counts = TrailingCounts(window_s=120, sample_s=5)
    counts.add("4", at=T0)
    # The window is (now - 120, now]: at now = T0 + 120 the record sits on the open edge.
    assert counts.snapshot(T0 + 120) == {"4": 0}
    assert counts.snapshot(T0 + 119) == {"4": 1}
    # One resolution step (sample_s / 5 = 1 s) further it is gone for good.
    assert counts.snapshot(T0 + 121) == {"4": 0}
    # A record arriving at `now` is inside.
    counts.add("4", at=T0 + 120)
    assert counts.snapshot(T0 + 120) == {"4": 1}


def test_counts_only_the_trailing_window_per_machine() -> None:
    counts = TrailingCounts(window_s=10, sample_s=1)
    counts.add("4", at=T0 + 1, n=3)
    counts.add("5", at=T0 + 2, n=7)
    counts.add("4", at=T0 + 6, n=2)
    assert counts.snapshot(T0 + 6) == {"4": 5, "5": 7}
    assert counts.snapshot(T0 + 11) == {"4": 2, "5": 7}
    assert counts.snapshot(T0 + 12) == {"4": 2, "5": 0}


def test_machine_that_appears_late_joins_the_series_from_then_on() -> None:
    clock = FakeClock()
    counts = TrailingCounts(window_s=10, sample_s=1, clock=clock)
    counts.add("4", at=T0 + 0.5)
    first = counts.due_samples(T0 + 1)
    counts.add("6", at=T0 + 1.5, n=4)
    later = counts.due_samples(T0 + 3)
    assert [s.at for s in first] == [T0 + 1]
    assert dict(first[0].counts) == {"4": 1}
    assert [s.at for s in later] == [T0 + 2, T0 + 3]
    assert [dict(s.counts) for s in later] == [{"4": 1, "6": 4}, {"4": 1, "6": 4}]
    assert counts.machines == ("4", "6")


def test_counts_fall_back_to_zero_when_a_machine_goes_quiet() -> None:
    counts = TrailingCounts(window_s=10, sample_s=1)
    for second in range(5):
        counts.add("7", at=T0 + second + 0.5, n=10)
    samples = [s for second in range(21) for s in counts.due_samples(T0 + second)]
    by_time = {s.at - T0: s.counts["7"] for s in samples}
    assert by_time[5] == 50
    assert by_time[11] == 40  # the record at 0.5 has left (1, 11]
    assert by_time[14] == 10
    assert by_time[15] == 0
    assert by_time[20] == 0
    assert counts.latest is not None and dict(counts.latest.counts) == {"7": 0}


def test_samples_sit_on_the_sample_grid_and_cover_the_whole_run() -> None:
    counts = TrailingCounts(window_s=120, sample_s=5)
    counts.add("4", at=T0 + 1)
    taken = []
    for step in range(1, 200):
        taken += counts.due_samples(T0 + step * 0.7)
    times = [s.at - T0 for s in taken]
    assert times == [5.0 * i for i in range(len(times))]
    assert times[-1] == 5 * int(199 * 0.7 / 5)
    assert [s.at for s in counts.series] == [s.at for s in taken]


def test_series_length_is_capped_at_max_samples() -> None:
    counts = TrailingCounts(window_s=10, sample_s=1, max_samples=50)
    for step in range(500):
        counts.due_samples(T0 + step)
    assert len(counts.series) == 50
    assert counts.series[-1].at == T0 + 499
    assert counts.series[0].at == T0 + 450


def test_memory_stays_bounded_over_a_simulated_week_at_high_rate() -> None:
    # A sample every 15 s (buckets of 3 s) keeps the simulated week quick to run.
    window_s, sample_s = 120.0, 15.0
    counts = TrailingCounts(window_s=window_s, sample_s=sample_s, max_samples=1_000)
    machines = [str(m) for m in range(4, 9)]
    week_s = 7 * 24 * 3600
    per_add = 15_000  # 1,000 records/s per machine, 5,000 records/s in all
    bound = len(machines) * (counts.max_buckets_per_machine + 1) + 1_000 + 1
    largest, steps = 0, 0
    t = T0
    while t < T0 + week_s:
        for phase, machine in enumerate(machines):
            # Each machine in its own 3 s bucket of the 15 s step: buckets spread out.
            counts.add(machine, at=t + 3 * phase + 0.5, n=per_add)
        counts.due_samples(t + sample_s)
        if steps % 20 == 0:  # every 5 simulated minutes: the gauge walks every bucket
            largest = max(largest, counts.size())
        steps += 1
        t += sample_s
    assert counts.accepted == len(machines) * per_add * week_s / sample_s
    largest = max(largest, counts.size())
    assert largest <= bound
    assert len(counts.series) == 1_000
    # Still exact at the end: 8 steps of 15 s in the 120 s window.
    assert counts.snapshot(t) == {machine: 8 * per_add for machine in machines}


def test_too_many_machines_are_rejected_and_counted_not_raised() -> None:
    counts = TrailingCounts(window_s=10, sample_s=1, max_machines=2)
    assert counts.add("4", at=T0)
    assert counts.add("5", at=T0)
    assert not counts.add("6", at=T0, n=3)
    assert counts.add("4", at=T0 + 1)
    assert counts.malformed == {TOO_MANY_MACHINES: 3}
    assert counts.snapshot(T0 + 1) == {"4": 2, "5": 1}


def test_injected_clock_is_used_when_no_time_is_given() -> None:
    clock = FakeClock(T0 + 3.2)
    counts = TrailingCounts(window_s=10, sample_s=1, clock=clock)
    counts.add("4", n=2)
    clock.now = T0 + 12
    assert counts.snapshot() == {"4": 2}
    clock.now = T0 + 14
    assert counts.snapshot() == {"4": 0}
    assert [s.at for s in counts.due_samples()] == [T0 + 14]


def test_out_of_order_arrival_lands_in_its_own_bucket() -> None:
    counts = TrailingCounts(window_s=10, sample_s=1)
    counts.add("4", at=T0 + 5)
    counts.add("4", at=T0 + 2)  # a clock step back
    assert counts.snapshot(T0 + 12) == {"4": 1}
    assert counts.snapshot(T0 + 11) == {"4": 2}


def test_catch_up_after_a_stall_is_capped_at_one_window() -> None:
    counts = TrailingCounts(window_s=10, sample_s=1)
    counts.due_samples(T0)
    taken = counts.due_samples(T0 + 100)
    assert [s.at - T0 for s in taken] == [float(i) for i in range(91, 101)]


@pytest.mark.parametrize("window_s, sample_s", [(0, 5), (120, 0), (-1, 1)])
def test_rejects_non_positive_periods(window_s: float, sample_s: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        TrailingCounts(window_s=window_s, sample_s=sample_s)


@pytest.mark.parametrize("sample_s", [0.3, 0.5, 0.7, 1.0, 1.5, 2.5, 5.0])
def test_window_edges_are_exact_at_grid_times_of_real_unix_epochs(sample_s: float) -> None:
    # Around 1e9 s one float step is ~1e-7 s: grid times must not slip a bucket.
    window_s = 12 * sample_s
    for k in range(200):
        counts = TrailingCounts(window_s, sample_s=sample_s)
        at = (3_591_706_000 + k) * sample_s
        step = counts.resolution_s
        counts.add("now", at=at)
        counts.add("after", at=at + step / 2)
        counts.add("edge", at=at - window_s)
        counts.add("inside", at=at - window_s + step)
        assert counts.snapshot(at) == {"after": 0, "edge": 0, "inside": 1, "now": 1}, (k, at)
