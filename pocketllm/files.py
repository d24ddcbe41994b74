"""Writing files so that a reader (or a crash) never sees half of one, and two runs never
write the same file.

- `atomic_write`: write a temp file beside the target, then rename it into place.  A
  failure (full disk, no permission) becomes a message that says the old file is
  unchanged; temp files left by killed writers are swept up at the next write.
- `OutputClaim`: a run claims its output path for its whole life (`<file>.claim`, made
  with O_EXCL, holding the owner's pid and that process's start time); a second run sees the
  claim and is refused.  A claim whose process is gone (or whose pid now names another
  process) is stale: it is taken over, and `sweep_stale_temps` removes it.
  `RunFolderClaim` is the same for a run folder while a run is being set up in it.
- `json_depth`: how deep a JSON text nests, found without parsing it: a crafted file
  (a checkpoint header, an instruction file) may nest brackets a million deep, which
  Python's parser answers with a RecursionError.
"""
from __future__ import annotations

import errno
import glob
import json
import os
import re
import secrets
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from .errors import PocketLLMError


def file_mode() -> int:
    """The permissions a plainly created file gets (rw for all, less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except (OverflowError, ValueError):
        return False
    return True


def _process_start(pid: int) -> str | None:
    """When process `pid` started (Linux's clock ticks since boot), or None where unknown: a
    claim that names a pid now used by another process is told apart by it."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError, ValueError):
        return None


def temp_path_for(path: Path) -> Path:
    """A hidden temp name beside `path`: the writer's pid (to find dead writers' leftovers)
    and a random part (two threads of one process never share it)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _writer_died(tmp: Path, name: str) -> bool:
    pid = tmp.name[len(name) + 2:-len(".tmp")].split("-")[0]
    return pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def _sweep_stale_temps(path: Path):
    """Remove `.name.<pid>-<hex>.tmp` files whose writer died mid-write (a kill, a power cut)."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # (a name may hold * or [)
        if _writer_died(tmp, path.name):
            tmp.unlink(missing_ok=True)


def sweep_stale_temps(folder) -> int:
    """The same for every file under `folder`, and the claims (`*.claim`) of runs that are gone
    (the app does this at start, a run in its folder); returns how many went."""
    removed = 0
    for tmp in Path(folder).rglob(".*.tmp"):
        stem = tmp.name[1:].rsplit(".", 2)[0]  # ".model.safetensors.123-ab.tmp" -> "model.safetensors"
        if tmp.is_file() and _writer_died(tmp, stem):
            tmp.unlink(missing_ok=True)
            removed += 1
    for claim in Path(folder).rglob("*.claim"):
        if claim.is_file() and OutputClaim(claim.with_suffix("")).stale():
            claim.unlink(missing_ok=True)
            removed += 1
    return removed


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if "No space left" in str(exc):
        return "No space left on device"
    return first[:120]


def atomic_write(path, write: Callable[[Path], None], *, fsync: bool = False) -> Path:
    """Call `write(tmp)` on a temp file beside `path`, then rename it into place.

    The rename is atomic on one file system: `path` holds the old file or the new one,
    never a mix.  The temp file is removed if writing fails, and the failure is told as
    a PocketLLMError that says the previous file is unchanged.
    """
    path = Path(path)
    tmp = temp_path_for(path)
    existed = path.exists()
    try:
        _sweep_stale_temps(path)
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except PocketLLMError:
        raise
    except Exception as exc:  # full disk, no permission, folder gone: each library words it differently
        from safetensors import SafetensorError
        if not isinstance(exc, (OSError, RuntimeError, SafetensorError)):
            raise
        if existed:
            raise PocketLLMError(
                "Could not write {path} ({reason}). The previous file there is unchanged. Free some disk space, "
                "or choose a folder you can write to.", code="files.write_failed", path=str(path),
                reason=_reason(exc)) from None
        raise PocketLLMError(
            "Could not write {path} ({reason}). Nothing was written. Free some disk space, or choose a folder "
            "you can write to.", code="files.write_failed_new", path=str(path), reason=_reason(exc)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


@contextmanager
def removed_if_refused(folder):
    """A folder this block creates is removed again if the block fails: a refused start
    leaves nothing behind (a folder that existed before is left alone)."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        yield folder
    except BaseException:
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def check_writable_folder(folder, flag: str):
    """Refuse, before anything is written, a folder this process cannot create or write in
    (read-only, a file in the way); nothing is created to find out."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        probe = temp_path_for(existing / "write-test")
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise PocketLLMError("Cannot write in {folder} ({reason}: {where}). Choose a folder you can write to "
                             "({flag}).", code="files.folder_not_writable", folder=str(folder),
                             reason=_reason(exc), where=str(existing), flag=flag) from None


def write_text_atomic(path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path, data) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False))


class OutputClaim:
    """`with OutputClaim(path): ...` — this process alone writes `path` meanwhile."""
    flag = "--model_path"  # what a refused run may choose instead

    def __init__(self, path):
        self.path = Path(path)
        self.claim = self.path.with_name(self.path.name + ".claim")
        self.held = False

    def _read(self) -> dict | None:
        try:
            info = json.loads(self.claim.read_text(encoding="utf-8"))
            int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None
        return info

    def owner(self) -> dict | None:
        """The live process that holds the claim, or None (no claim, or a stale one)."""
        info = self._read()
        if info is None:
            return None
        pid, same_host = int(info["pid"]), info.get("host") == socket.gethostname()
        if not same_host:
            return info  # another machine's run (a shared folder): its processes cannot be seen from here
        started = info.get("pid_start")
        if started is not None and _process_start(pid) not in (None, str(started)):
            return None  # the pid was reused: the claim's process is gone
        if pid == os.getpid():
            return info if not self.held else None
        return info if _alive(pid) else None

    def stale(self, grace_s: float = 60) -> bool:
        """A claim file whose run is gone (a kill -9, a crash); one still being written (not yet
        readable) is given `grace_s` seconds."""
        if not self.claim.is_file():
            return False
        if self._read() is None:
            try:
                return time.time() - self.claim.stat().st_mtime > grace_s
            except OSError:
                return False
        return self.owner() is None and not self.held

    def check(self):
        """Refuse, with who and since when, if another live run holds the path."""
        info = self.owner()
        if info is not None:
            raise PocketLLMError(
                "{path} is being written by another run (process {pid}, started {since}). Wait for it "
                "to finish, or choose another {flag}. If no run is writing it (the process id was "
                "reused after a crash), delete {claim} and start again.", code="files.claimed",
                path=str(self.path), pid=info.get("pid"), since=info.get("since", "?"), flag=self.flag,
                claim=str(self.claim))

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "pid_start": _process_start(os.getpid()),
                             "since": time.strftime("%Y-%m-%d %H:%M:%S")})
        for _ in range(2):
            try:
                fd = os.open(self.claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self.check()  # a live owner: refuse
                self.claim.unlink(missing_ok=True)  # a stale claim: take it over
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(record)
            self.held = True
            return self
        raise PocketLLMError("Could not claim {path}: another run keeps claiming it; try again.",
                             code="files.claim_contested", path=str(self.path))

    def release(self):
        if self.held:
            self.claim.unlink(missing_ok=True)
            self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class RunFolderClaim(OutputClaim):
    """`RunFolderClaim(run_dir)`: this process alone sets up a run in `run_dir` meanwhile
    (`run_dir/run.json.claim`, until it has written run.json; the run's model path has its
    own claim while it trains)."""
    flag = "--run_dir"

    def __init__(self, run_dir):
        super().__init__(Path(run_dir) / "run.json")


# ---- JSON that a crafted file may nest a million deep -----------------------------------

JSON_DEPTH_LIMIT = 64  # our own files nest a handful of levels (a tokenizer.json about six)
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_ONE_KIND = str.maketrans("{}", "[]")


def json_depth(text: str, limit: int = JSON_DEPTH_LIMIT) -> int:
    """How deep the brackets of a JSON text nest outside its strings, counted up to `limit + 1`
    (more than that is not told apart); linear in the text's length, nothing is parsed.

    Innermost pairs are removed pass by pass (at most `limit + 1` passes); brackets that never
    close count one level each, as Python's parser would descend into them."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_ONE_KIND)
    depth = 0
    while brackets and depth <= limit:
        inner = brackets.replace("[]", "")
        if len(inner) == len(brackets):  # unbalanced: "]]][[[" is left
            return min(limit + 1, depth + inner.count("["))
        brackets, depth = inner, depth + 1
    return depth
