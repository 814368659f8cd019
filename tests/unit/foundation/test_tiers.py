"""Each test tier runs alone: tests are marked by the folder they live in."""

from __future__ import annotations

import subprocess
import sys

from pipelines.config import PROJECT_ROOT


def _collected(marker: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker, "tests"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_every_tier_selects_exactly_its_own_folder() -> None:
    for tier in ("unit", "integration", "e2e"):
        tests = _collected(tier)
        assert tests, f"no {tier} test collected"
        assert all(t.startswith(f"tests/{tier}/") for t in tests), tier
    assert all(t.startswith("tests/unit/") for t in _collected("not integration and not e2e"))
