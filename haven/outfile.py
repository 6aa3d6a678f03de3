"""Writing a command's output file: whole or not at all, without breaking what the path names.

``haven export -o PATH`` and ``haven map -o PATH`` used to write a temporary file
beside PATH and rename it over PATH, whatever PATH was. That replaced a symlink
with a regular file (its target never written) and a FIFO or a device node
(``/dev/stdout``, ``/dev/null``) with a regular file too. Here:

* a **symlink** is followed to the file it names, and *that* file is replaced
  (atomically, through a temporary file beside it), so the link stays a link;
* a path that **exists and is not a regular file** (a FIFO, a character device,
  a socket) is written directly: it cannot be replaced, and a reader on the
  other side expects the bytes;
* a path under ``/dev`` or ``/proc`` (``/dev/stdout``, ``/dev/fd/3``,
  ``/proc/self/fd/1``) is also written directly, even when it resolves to a
  regular file (a shell redirect): renaming over the file would leave the
  descriptor the shell opened pointing at a deleted file;
* anything else (a new file, or a regular file) is replaced only when complete:
  bytes go to a temporary file that is flushed and renamed over it. A replaced
  file keeps its permission bits.

The temporary file is a scratch copy (:func:`haven.store.scratch.scratch_copy`),
``.<name>.partial-<pid>-<random>`` beside the file: each run holds a lock on its
own while it writes, and every run removes the ones nobody holds, so what a
killed run left (possibly gigabytes) goes with the next write to that file, and
a file another run is still writing is never taken for a left-over.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from haven.errors import InvalidInput
from haven.store.scratch import scratch_copy

__all__ = ["OutputTarget", "output_target", "temp_prefix", "write_output"]

#: Paths whose files stand for descriptors or devices: written to, never replaced.
_SPECIAL_ROOTS = ("/dev/", "/proc/")
_MAX_LINKS = 40  # as the kernel's limit on symlinks followed in one lookup


@dataclass(frozen=True)
class OutputTarget:
    """Where bytes for ``path`` go: ``direct`` (write into it) or replaced at ``real``."""

    path: Path  # as the user gave it
    real: Path  # the file that is written or replaced (symlinks followed)
    direct: bool  # True: open and write (FIFO, device, /dev/stdout); False: temporary file + rename


def _special(path: str) -> bool:
    return any(path.startswith(root) or path == root.rstrip("/") for root in _SPECIAL_ROOTS)


def output_target(path: Path | str) -> OutputTarget:
    """Where writing ``path`` lands: its symlinks followed, and whether to write directly.

    A symlink whose target does not exist yet resolves to that target (created by
    the write). Raises :class:`InvalidInput` for a folder and for a chain of more
    than 40 links.
    """
    given = Path(path)
    current = os.path.join(os.getcwd(), given)  # not normalised: "link/.." is the kernel's business
    for _ in range(_MAX_LINKS):
        # the folder with every link resolved, the last part as named (it may be a link itself)
        folder = os.path.realpath(os.path.dirname(current))
        current = os.path.join(folder, os.path.basename(current))
        if _special(current):
            return OutputTarget(given, Path(current), True)
        if not os.path.islink(current):
            break
        current = os.path.join(folder, os.readlink(current))  # an absolute link target replaces folder
    else:
        raise InvalidInput(f"{given}: too many levels of symbolic links", field="output")
    try:
        mode = os.stat(current).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new file (its folder is the writer's to check)
        return OutputTarget(given, Path(current), False)
    if stat.S_ISDIR(mode):
        raise InvalidInput(f"{given} is a folder; give the name of the file to write", field="output")
    return OutputTarget(given, Path(current), not stat.S_ISREG(mode))


def write_output(path: Path | str, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``path`` as described in the module docstring; returns the bytes written.

    Replacing a file creates its missing parent folders and first removes the
    temporary files that killed writes to the same file left. A failure (or
    Ctrl-C) while replacing leaves the old file as it was and removes the
    temporary one.
    """
    target = output_target(path)
    if target.direct:
        written = 0
        with open(target.real, "wb") as fh:  # O_TRUNC does nothing to a FIFO or a device
            for chunk in chunks:
                fh.write(chunk)
                written += len(chunk)
        return written
    real = target.real
    real.parent.mkdir(parents=True, exist_ok=True)
    try:
        keep_mode: int | None = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        keep_mode = None
    written = 0
    # removes what killed runs left for this file; gone again on any error or Ctrl-C
    with scratch_copy(real.parent, temp_prefix(real)) as temp:
        with open(temp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                written += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_mode is not None:
            os.chmod(temp, keep_mode)
        os.replace(temp, real)
    return written


def temp_prefix(real: Path) -> str:
    """How the temporary files of a write to ``real`` begin: ``.<name>.partial-`` (then ``<pid>-<random>``)."""
    return f".{real.name}.partial-"
