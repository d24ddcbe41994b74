"""What the whole app shares: the checkpoints folder, the one job runner, a
temp folder for files it hands out, and a small cache of loaded models.

One `AppState` is made per app (`ui.app.build_app`) and handed to every tab.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from pocketllm import (NotACheckpoint, JobRunner, PocketLLMError, list_checkpoints, list_runs, load_model, read_header, read_run,
                       to_precision, train_corpus_tokenizer)

from .core_errors import core_message
from .i18n import t
from .markup import Markup

log = logging.getLogger("pocketllm.ui")

# launch(max_file_size=...): GPT-2 355M's pytorch_model.bin is 1.4 GB; said in the page
# ("common.footer", "weights.upload_file"); bigger files are given as a local path.
MAX_UPLOAD = "2gb"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(host) -> bool:
    host = str(host or "").strip().lower()
    return host in LOOPBACK or host.startswith("127.")


class ModelCache:
    """The last `size` models used, keyed by file and its modification time, so
    generating again does not reload, and a file replaced on disk is reread."""

    def __init__(self, size: int = 2):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path, lang="en", precision="fp32"):
        path = Path(path).resolve()
        try:
            key = (str(path), path.stat().st_mtime_ns, precision)
        except FileNotFoundError:  # deleted or renamed in another browser tab
            raise PocketLLMError(t(lang, "common.gone", name=path.name)) from None
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        ckpt = load_model(path)  # outside the lock: loading may take seconds
        to_precision(ckpt.model, precision)  # int8/bf16: faster generation on a CPU
        ckpt.model.eval()
        with self._lock:
            for old in [k for k in self._items if k[0] == key[0] and k[1] != key[1]]:
                del self._items[old]  # an older version of the same file
            self._items[key] = ckpt
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return ckpt

    def forget(self, path):
        path = str(Path(path).resolve())
        with self._lock:
            for k in [k for k in self._items if k[0] == path]:
                del self._items[k]


class TokenizerCache:
    """Tokenizers learned for the Pretrain tab's preview, by (corpus file and its version,
    kind, vocabulary size), so moving the other settings never trains one again.  Each
    entry may also keep what was computed from it (`extra`: the preview's token view)."""

    def __init__(self, size: int = 6):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._training: dict = {}   # key -> lock, while that tokenizer is being learned
        self._lock = threading.Lock()

    @staticmethod
    def key(path, kind, vocab_size) -> tuple:
        path = Path(path).resolve()
        stat = path.stat()
        return str(path), stat.st_size, stat.st_mtime_ns, kind, vocab_size

    def get(self, path, kind, vocab_size):
        """The tokenizer (trained on the corpus's training part, as a run would) and its
        entry's `extra` dict."""
        key = self.key(path, kind, vocab_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            busy = self._training.setdefault(key, threading.Lock())
        with busy:  # two handlers asking at once: one learns, the other waits for it
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                tok = train_corpus_tokenizer(key[0], kind, vocab_size)
            finally:
                with self._lock:
                    self._training.pop(key, None)
            with self._lock:
                self._items[key] = (tok, {})
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                return self._items[key]


class AppState:
    """`local_paths`: whether the page may name files on the server by path (GPT-2
    import): only when the app listens on this computer alone and has no share link."""

    def __init__(self, checkpoints, temp_dir=None, local_paths=True):
        self.checkpoints = Path(checkpoints).resolve()
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.temp = Path(temp_dir or tempfile.mkdtemp(prefix="pocketllm-app-")).resolve()
        self.temp.mkdir(parents=True, exist_ok=True)
        self.runner = JobRunner()
        self.models = ModelCache(2)
        self.tokenizers = TokenizerCache()
        # The preview tokenizes into one cache folder; two previews at once (a tokenizer and its size
        # changed together) must not write the same cache file together.
        self.token_cache_lock = threading.Lock()
        self.local_paths = local_paths
        self.sweep()

    def sweep(self) -> int:
        """Remove temp files that saves killed midway left in the checkpoints folder (their
        writer is gone); a live writer's file stays."""
        import pocketllm.files
        sweep = getattr(pocketllm.files, "sweep_stale_temps", None)
        if sweep is None:
            return 0
        try:
            return sweep(self.checkpoints)
        except OSError as exc:  # a folder it cannot read: the app still starts
            log.warning("could not sweep stale temp files in %s: %s", self.checkpoints, exc)
            return 0

    # ---- folders ---------------------------------------------------------------
    @property
    def corpora(self) -> Path:
        """Uploaded corpora are kept here, so a run (and its resume) can reread them."""
        path = self.checkpoints / "corpora"
        path.mkdir(exist_ok=True)
        return path

    @property
    def token_cache(self) -> Path:
        return self.temp / "tokens"

    def scratch(self, name: str) -> Path:
        """A fresh folder inside the app's temp folder."""
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.temp))
        return path

    def inside(self, path, lang="en") -> Path:
        """`path` resolved, if it lies in the checkpoints folder (else PocketLLMError)."""
        try:
            path = Path(path).resolve()
        except (TypeError, ValueError, OSError):  # not a path at all (e.g. a NUL byte)
            raise PocketLLMError(t(lang, "common.outside", name=str(path)[:80])) from None
        if path != self.checkpoints and self.checkpoints not in path.parents:
            raise PocketLLMError(t(lang, "common.outside", name=path.name))
        return path

    def checkpoint(self, path, lang="en") -> Path:
        """`path` resolved, if it is an existing PocketLLM checkpoint (.safetensors) in the
        checkpoints folder.  Every path that comes from the page goes through here (or
        `download`): a handler may be called with any string, not only the listed ones."""
        if not path or not isinstance(path, (str, Path)):
            raise PocketLLMError(t(lang, "common.pick_checkpoint"))
        path = self.inside(path, lang)
        if path.suffix != ".safetensors":
            raise PocketLLMError(t(lang, "common.not_checkpoint", name=path.name))
        if not path.is_file():
            raise PocketLLMError(t(lang, "common.gone", name=path.name))
        try:
            read_header(path)
        except NotACheckpoint:
            raise PocketLLMError(t(lang, "common.not_checkpoint", name=path.name)) from None
        except PocketLLMError as exc:  # ours, but a crafted or broken header: say why, in the page's language
            reason = Markup(core_message(exc, lang).rstrip(".。"))
            raise PocketLLMError(t(lang, "common.damaged", name=path.name, reason=reason)) from None
        return path

    def listed(self, path, lang="en") -> dict:
        """The Weights table's row of `path` (a checkpoint of the folder, or a damaged file
        it lists): what may be deleted.  Anything else is refused as `checkpoint` does."""
        if not path or not isinstance(path, (str, Path)):
            raise PocketLLMError(t(lang, "common.pick_checkpoint"))
        resolved = self.inside(path, lang)
        for row in self.checkpoints_table():
            if Path(row["path"]).resolve() == resolved:
                return row
        self.checkpoint(resolved, lang)  # the reason it is not listed, in the page's words
        raise PocketLLMError(t(lang, "common.not_checkpoint", name=resolved.name))

    def download(self, path, lang="en") -> Path:
        """A file the page may hand out: a checkpoint of the folder or a file the app wrote
        in its own temp folder (exports)."""
        try:
            resolved = Path(path).resolve() if isinstance(path, (str, Path)) and path else None
        except (ValueError, OSError):
            resolved = None
        if resolved is not None and self.temp in resolved.parents and resolved.is_file():
            return resolved
        return self.checkpoint(path, lang)

    def download_as(self, path, name: str, lang="en") -> Path:
        """The checkpoint `path` offered for download as `name`: every run saves
        `model.safetensors`, so a download should say which model it is.  A hard link (or a
        copy, across disks) in the app's temp folder, made again only when the checkpoint
        changed; the checkpoint itself is untouched."""
        source = self.checkpoint(path, lang)
        name = Path(str(name or "")).name
        if not name or name == source.name or not name.endswith(".safetensors"):
            return source
        folder = self.temp / "downloads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if target.is_file() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns:
            return target
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:  # another disk, or links not allowed
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return target

    def load(self, path, lang="en", precision="fp32"):
        """The checkpoint at `path` (checked as `checkpoint` does), loaded and cached."""
        return self.models.get(self.checkpoint(path, lang), lang, precision)

    def running_checkpoint(self) -> Path | None:
        job = self.runner.current
        return Path(job.model_path).resolve() if job is not None and job.model_path else None

    # ---- runs and checkpoints -----------------------------------------------
    def checkpoints_table(self) -> list[dict]:
        """Every checkpoint of the folder, damaged ones too (`"damaged": True`)."""
        return list_checkpoints(self.checkpoints)

    def models_table(self) -> list[dict]:
        """The checkpoints a model picker offers: the damaged ones left out."""
        return [r for r in self.checkpoints_table() if not r.get("damaged") and r.get("task") != "damaged"]

    def runs(self, kind: str) -> list[Path]:
        return list_runs(self.checkpoints, kind)

    def run_view(self, run_dir):
        return read_run(run_dir, self.runner)

    def live_or_latest_run(self, kind: str) -> Path | None:
        """The running job's folder if it is of `kind`, else the newest run of `kind`."""
        job = self.runner.current
        if job is not None and job.kind == kind:
            return job.run_dir
        runs = self.runs(kind)
        return runs[0] if runs else None

    def cleanup(self):
        shutil.rmtree(self.temp, ignore_errors=True)
