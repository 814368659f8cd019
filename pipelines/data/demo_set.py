"""The default data set: generated once, with a fixed seed, under the state folder.

The producers and the workbench call :func:`ensure_demo_data` for their default ``--file``,
so a fresh checkout has data to replay without any download.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from pipelines.config import Settings
from pipelines.data.generator import DEFAULT_SEED, files_in, generate
from pipelines.schema.columns import STREAMS, Stream

DEMO_FOLDER: Final = "generated"
"""Sub-folder of ``settings.data_dir`` holding the default generated data."""


def demo_folder(settings: Settings) -> Path:
    """Where the default generated data lives (``<home>/data/generated``)."""
    return settings.data_dir / DEMO_FOLDER


def ensure_demo_data(settings: Settings, *, progress: bool = False) -> Path:
    """Return the folder with the default generated data, generating it if missing.

    Idempotent: when every file of the data set exists it returns at once; otherwise it
    regenerates the whole set with :data:`~pipelines.data.generator.DEFAULT_SEED` (files
    are replaced atomically, so a reader never sees half a file). Processes that call it
    at once on a fresh state folder (the workbench starts both producers together) take
    turns on a lock file beside the folder: one generates, the others find the files.

    Args:
        settings: the product settings (``settings.data_dir`` decides the place).
        progress: show a progress bar while generating.

    Returns:
        The folder holding ``Streaming_Linux_process.csv``, ``Streaming_Linux_memory.csv``,
        their ``.labels.csv`` ground truth and the labelled ``Processed_Linux_*.csv`` files.
    """
    folder = demo_folder(settings)
    files = files_in(folder)
    wanted = (
        files.process,
        files.memory,
        files.process_labels,
        files.memory_labels,
        files.labelled_process,
        files.labelled_memory,
    )
    if all(path.is_file() for path in wanted):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not all(path.is_file() for path in wanted):
            generate(folder, seed=DEFAULT_SEED, progress=progress)
    return folder


def demo_training_files(
    settings: Settings, streams: Iterable[Stream] = STREAMS
) -> dict[Stream, list[Path]]:
    """The labelled files of the default data set per stream (generated when missing):
    what training uses when it is given no files of its own."""
    generated = files_in(ensure_demo_data(settings))
    return {stream: [generated.labelled(stream)] for stream in streams}
