"""environment.yml is the one dependency source; the pip route installs the same pins."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import yaml

from pipelines.config import PROJECT_ROOT

ENVIRONMENT = PROJECT_ROOT / "environment.yml"
DESIGN_CARD_PACKAGES = {"panel", "holoviews", "streamz", "kafka-python", "pyspark"}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>[0-9][A-Za-z0-9.+\-]*)$")


def _document() -> dict:
    return yaml.safe_load(ENVIRONMENT.read_text())


def _pip_list() -> list[str]:
    for entry in _document()["dependencies"]:
        if isinstance(entry, dict):
            return list(entry["pip"])
    raise AssertionError("environment.yml has no pip: section")


def test_conda_part_brings_python_java_and_maven() -> None:
    document = _document()
    assert document["channels"][0] == "conda-forge"
    conda = [d for d in document["dependencies"] if isinstance(d, str)]
    names = {re.split(r"[=<> ]", d)[0] for d in conda}
    assert {"python", "openjdk", "maven", "pip"} <= names
    assert "python=3.11" in conda
    assert any(d.startswith("openjdk=17") for d in conda)


def test_every_python_package_is_pinned_exactly_and_the_design_card_is_there() -> None:
    requirements = _pip_list()
    names = set()
    for requirement in requirements:
        match = PIN.match(requirement)
        assert match, f"{requirement!r} is not pinned with =="
        names.add(match["name"].lower())
    assert names >= DESIGN_CARD_PACKAGES
    assert len(names) == len(requirements), "a package is listed twice"


def test_pandas_stays_below_3_for_pyspark() -> None:
    pins = {PIN.match(r)["name"].lower(): PIN.match(r)["version"] for r in _pip_list()}  # type: ignore[index]
    assert int(pins["pandas"].split(".")[0]) < 3


def test_pip_route_reads_the_same_list() -> None:
    """tools/requirements.py (what `make setup` installs) prints exactly the pip list."""
    printed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "requirements.py"), str(ENVIRONMENT)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert printed == _pip_list()


def test_installed_versions_match_the_pins() -> None:
    """The environment running the tests is the one environment.yml describes."""
    mismatched = {}
    for requirement in _pip_list():
        match = PIN.match(requirement)
        assert match
        installed = importlib.metadata.version(match["name"])
        if installed != match["version"]:
            mismatched[match["name"]] = (match["version"], installed)
    assert not mismatched, f"pinned vs installed: {mismatched}"


def test_kafka_python_checksums_record_batches_in_c() -> None:
    """Every produced and fetched batch is CRC-32C checked; kafka-python falls back on a
    pure-Python CRC without the crc32c package (most of a fleet producer's CPU)."""
    import crc32c
    from kafka.record import util

    assert util.calc_crc32c.__defaults__ == (crc32c.crc32c,)
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the CRC-32C check value
