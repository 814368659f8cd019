"""Print the pip requirements held in environment.yml (the one dependency source).

Used by `make setup` (pip route) and by a unit test that checks both routes agree.
Run with any Python that has PyYAML: ``python tools/requirements.py environment.yml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def pip_requirements(environment_file: Path) -> list[str]:
    """Return the `pip:` entries of a conda environment file, in file order."""
    document = yaml.safe_load(environment_file.read_text(encoding="utf-8"))
    for entry in document.get("dependencies", []):
        if isinstance(entry, dict) and "pip" in entry:
            return [str(requirement) for requirement in entry["pip"]]
    raise SystemExit(f"{environment_file}: no 'pip:' section under dependencies")


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "environment.yml")
    print("\n".join(pip_requirements(path)))
