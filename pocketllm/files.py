"""Writing files so that a reader (or a crash) never sees half of one."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable


def file_mode() -> int:
    """The permissions a plainly created file gets (rw for all, less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path, write: Callable[[Path], None], *, fsync: bool = False) -> Path:
    """Call `write(tmp)` on a temp file beside `path`, then rename it into place.

    The rename is atomic on one file system: `path` holds the old file or the new one,
    never a mix.  The temp file is removed if writing fails.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json_atomic(path, data) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(
        json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8"))
