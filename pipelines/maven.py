"""Resolve jars from Maven Central into a local cache folder, once.

The embedded broker and Spark's Kafka connector are plain Maven artifacts. We write a
tiny pom listing them and let ``mvn dependency:copy-dependencies`` fetch them (with
their transitive dependencies) into a folder. A marker file records what was
resolved; later calls find it and download nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import DependencyResolutionError, MissingToolError

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
"""Pinned: this Maven's default dependency plugin predates the options we use."""

MARKER = ".resolved.json"


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


def _pom(artifacts: Sequence[Artifact]) -> str:
    deps = "\n".join(
        f"    <dependency><groupId>{a.group}</groupId><artifactId>{a.artifact}</artifactId>"
        f"<version>{a.version}</version></dependency>"
        for a in artifacts
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>stophacking</groupId><artifactId>jar-cache</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def _fingerprint(artifacts: Sequence[Artifact], include: Sequence[str] | None) -> str:
    text = json.dumps([[str(a) for a in artifacts], list(include or [])])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_resolved(
    dest: Path, artifacts: Sequence[Artifact], include: Sequence[str] | None = None
) -> bool:
    """True when ``dest`` already holds exactly this artifact set."""
    marker = dest / MARKER
    if not marker.is_file():
        return False
    try:
        return bool(
            json.loads(marker.read_text())["fingerprint"] == _fingerprint(artifacts, include)
        )
    except (ValueError, KeyError):
        return False


def resolve_jars(
    dest: Path,
    artifacts: Sequence[Artifact],
    *,
    include_artifact_ids: Sequence[str] | None = None,
    mvn: str = "mvn",
) -> list[Path]:
    """Make sure ``dest`` holds the jars of ``artifacts`` and their runtime dependencies.

    Args:
        dest: cache folder (created); its jars are replaced only when the set changes.
        artifacts: what to resolve.
        include_artifact_ids: keep only these artifact ids (e.g. to leave out jars that
            pyspark already ships). ``None`` keeps the whole runtime closure.
        mvn: the Maven executable.

    Returns:
        The jar paths in ``dest``, sorted.

    Raises:
        MissingToolError: ``mvn`` is not on PATH.
        DependencyResolutionError: Maven failed; the message carries its last lines.
    """
    if not is_resolved(dest, artifacts, include_artifact_ids):
        if shutil.which(mvn) is None:
            raise MissingToolError(
                f"'{mvn}' not found on PATH: Maven is needed once to fetch "
                f"{', '.join(str(a) for a in artifacts)} from Maven Central"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="stophacking-mvn-") as work:
            staging = Path(work) / "jars"
            (Path(work) / "pom.xml").write_text(_pom(artifacts))
            command = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(Path(work) / "pom.xml"),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ]
            if include_artifact_ids:
                command.append(f"-DincludeArtifactIds={','.join(include_artifact_ids)}")
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                raise DependencyResolutionError(
                    f"mvn could not resolve {', '.join(str(a) for a in artifacts)} "
                    f"(exit {done.returncode}):\n{tail}"
                )
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(staging, dest)
        (dest / MARKER).write_text(
            json.dumps(
                {
                    "fingerprint": _fingerprint(artifacts, include_artifact_ids),
                    "artifacts": [str(a) for a in artifacts],
                },
                indent=2,
            )
        )
    return sorted(dest.glob("*.jar"))
