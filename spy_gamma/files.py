"""Files appear whole or not at all, with the permissions the user's umask gives (not tempfile's 0600)."""

from __future__ import annotations

import os
from pathlib import Path


def umask_mode() -> int:
    """0o666 less the process umask: the mode ``open(path, "w")`` would have created the file with."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def publish(temporary: Path | str, target: Path) -> None:
    """Give a finished temporary file the user's mode and rename it over ``target`` (atomic on one file system),
    then fsync the folder so the rename survives a power cut."""
    os.chmod(temporary, umask_mode())
    os.replace(temporary, target)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
