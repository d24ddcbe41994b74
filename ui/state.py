"""What the whole app shares: the checkpoints folder, the one job runner, a
temp folder for files it hands out, and a small cache of loaded models.

One `AppState` is made per app (`ui.app.build_app`) and handed to every tab.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from pocketllm import load_model
from pocketllm import list_checkpoints
from pocketllm import JobRunner, list_runs, read_run

MAX_UPLOAD = "200mb"  # launch(max_file_size=...); said in the page by "common.upload_limit"


class ModelCache:
    """The last `size` models used, keyed by file and its modification time, so
    generating again does not reload, and a file replaced on disk is reread."""

    def __init__(self, size: int = 2):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path):
        path = Path(path).resolve()
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        ckpt = load_model(path)  # outside the lock: loading may take seconds
        ckpt.model.eval()
        with self._lock:
            for old in [k for k in self._items if k[0] == key[0]]:
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


class AppState:
    def __init__(self, checkpoints, temp_dir=None):
        self.checkpoints = Path(checkpoints).resolve()
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.temp = Path(temp_dir or tempfile.mkdtemp(prefix="pocketllm-app-")).resolve()
        self.temp.mkdir(parents=True, exist_ok=True)
        self.runner = JobRunner()
        self.models = ModelCache(2)

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

    def inside(self, path) -> Path:
        """`path` resolved, if it lies in the checkpoints folder (else ValueError)."""
        path = Path(path).resolve()
        if path != self.checkpoints and self.checkpoints not in path.parents:
            raise ValueError(f"{path} is outside {self.checkpoints}")
        return path

    # ---- runs and checkpoints -----------------------------------------------
    def checkpoints_table(self) -> list[dict]:
        return list_checkpoints(self.checkpoints)

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
