"""The checkpoints folder as a catalog: list, rename, delete — never outside the folder."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .checkpoint import NotACheckpoint, read_header
from .config import ModelConfig
from .errors import PocketLLMError
from .files import write_json_atomic
from .kinds import TaskKind


def _inside(root: Path, path: Path) -> Path:
    root, path = root.resolve(), Path(path).resolve()
    if root != path and root not in path.parents:
        raise PocketLLMError("{path} is outside the checkpoints folder {root}.", code="catalog.outside",
                             path=str(path), root=str(root))
    return path


def checkpoint_parameters(config: dict, task: dict) -> int:
    cfg = ModelConfig.from_dict(config)
    total = cfg.num_parameters()
    if task.get("type") == TaskKind.CLASSIFY:
        n = len(task.get("labels", []))
        head = cfg.vocab_size * cfg.emb_dim if not cfg.tie_embeddings else 0
        total = total - head + n * cfg.emb_dim + n
    return total


def list_checkpoints(root) -> list[dict]:
    """Every PocketLLM checkpoint under `root` (two levels deep), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    rows = []
    for path in list(root.glob("*.safetensors")) + list(root.glob("*/*.safetensors")):
        if path.name.startswith("."):
            continue
        try:
            rows.append(_row(root, path))
        except NotACheckpoint:
            continue  # not ours, e.g. an exported Hugging Face file
        except (PocketLLMError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            rows.append(_damaged_row(root, path, exc))  # listed, so the user sees it and can delete it; never loaded
    return sorted(rows, key=lambda r: r["mtime"], reverse=True)


def _file_facts(root: Path, path: Path) -> dict:
    stat = path.stat()
    return {"name": str(path.relative_to(root)), "path": str(path), "size_mb": round(stat.st_size / 2**20, 1),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(stat.st_mtime)), "mtime": stat.st_mtime}


def _row(root: Path, path: Path) -> dict:
    header = read_header(path)
    params = checkpoint_parameters(header["config"], header["task"])
    task, facts = header["task"], header["facts"]
    if not isinstance(task, dict) or not isinstance(facts, dict):
        raise PocketLLMError("its task or facts are not JSON objects", code="catalog.damaged_header")
    score = ""
    if "val_accuracy" in facts:
        score = f"val acc {facts['val_accuracy']:.3f}"
    elif "best_val_loss" in facts:
        score = f"val loss {facts['best_val_loss']:.3f}"
    return {**_file_facts(root, path), "task": task.get("type", TaskKind.PRETRAIN.value), "parameters": params,
            "score": score, "tokenizer": header.get("tokenizer", "gpt2"),
            "facts": facts}  # what it was trained on and from, and when: the app shows them in its own words


def _damaged_row(root: Path, path: Path, exc: Exception) -> dict:
    # The code and values let the page say what is wrong in its own language; score is the English.
    return {**_file_facts(root, path), "task": "damaged", "parameters": 0, "score": str(exc)[:160],
            "tokenizer": "", "damaged": True, "error_code": getattr(exc, "code", ""),
            "error_values": dict(getattr(exc, "values", {}))}


def _checkpoint_in(root: Path, path, protect=None) -> Path:
    """A PocketLLM checkpoint inside `root` that is not the running job's file."""
    path = _inside(root, path)
    if path.suffix != ".safetensors" or not path.is_file():
        raise PocketLLMError("{name} is not a checkpoint (.safetensors) in {root}.", code="catalog.not_checkpoint",
                             name=path.name, root=str(root))
    try:
        read_header(path)  # raises a clear error for anything that is not ours
    except NotACheckpoint:
        raise
    except PocketLLMError:
        pass  # ours but damaged (truncated, bad header): listed as damaged, so it may be renamed or deleted
    if protect is not None and Path(protect).resolve() == path:
        raise PocketLLMError("{name} belongs to the training job that is running; stop it first.",
                             code="catalog.in_use", name=path.name)
    return path


def rename_checkpoint(root, path, new_name: str, protect=None) -> Path:
    """Rename a checkpoint in place; its run folder's run.json follows the new name."""
    root = Path(root)
    path = _checkpoint_in(root, path, protect)
    new_name = new_name.strip()
    if not new_name or "/" in new_name or "\\" in new_name or new_name.startswith("."):
        raise PocketLLMError("A new name must be a plain file name, without / or a leading dot.",
                             code="catalog.name_not_plain")
    if len(new_name) > 100 or any(ch in new_name for ch in '<>:"|?*\0') or not new_name.isprintable():
        raise PocketLLMError("A new name must be at most {limit} characters, without < > : \" | ? * or control "
                             "characters (got {length} characters).", code="catalog.name_invalid",
                             limit=100, length=len(new_name))
    if not new_name.endswith(".safetensors"):
        new_name += ".safetensors"
    target = _inside(root, path.with_name(new_name))
    if target.exists():
        raise PocketLLMError("{name} already exists; pick another name.", code="catalog.name_taken",
                             name=target.name)
    path.rename(target)
    run_json = path.parent / "run.json"
    if run_json.is_file():  # keep the run's download and resume pointing at the file
        record = json.loads(run_json.read_text(encoding="utf-8"))
        if record.get("model_path") and Path(record["model_path"]).resolve() == path:
            record["model_path"] = str(target)
            write_json_atomic(run_json, record)
    return target


def delete_checkpoint(root, path, protect=None) -> None:
    """Delete one checkpoint file (its run folder's other files stay)."""
    path = _checkpoint_in(Path(root), path, protect)
    path.unlink()


def delete_run(root, run_dir) -> None:
    run_dir = _inside(Path(root), run_dir)
    if run_dir == Path(root).resolve():
        raise PocketLLMError("Refusing to delete the whole checkpoints folder.", code="catalog.delete_root")
    shutil.rmtree(run_dir)
