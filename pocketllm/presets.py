"""Named settings a learner saves and loads: sampler presets (and their built-in three).

A preset is one small JSON file, `<folder>/sampling/<name>.json`, holding the fields
of `Sampling` — readable, diffable, easy to share.  The folder is the checkpoints
folder by default, where everything else the user makes lives.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import PocketLLMError
from .files import write_json_atomic
from .generation import Sampling

BUILTIN_SAMPLING = {
    "greedy": Sampling(),
    "balanced": Sampling(temperature=0.7, top_k=40, top_p=0.95, repetition_penalty=1.1),
    "creative": Sampling(temperature=1.1, top_p=0.98, min_p=0.05),
}
_NAME = re.compile(r"^[\w\-. ]{1,40}$")  # \w covers Chinese characters too


def _folder(root) -> Path:
    from .tasks.language_modeling import DEFAULT_CHECKPOINTS
    return Path(root or DEFAULT_CHECKPOINTS) / "presets" / "sampling"


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name) or name.startswith("."):
        raise PocketLLMError(f"A preset name is 1 to 40 letters, digits, spaces, - _ or . (got {name[:50]!r}).")
    return name


def sampling_presets(root=None) -> list[str]:
    """The built-in presets, then the user's, by name."""
    folder = _folder(root)
    mine = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return list(BUILTIN_SAMPLING) + [n for n in mine if n not in BUILTIN_SAMPLING]


def load_sampling_preset(name: str, root=None) -> Sampling:
    name = _check_name(name)
    if name in BUILTIN_SAMPLING:
        return BUILTIN_SAMPLING[name]
    path = _folder(root) / f"{name}.json"
    if not path.is_file():
        raise PocketLLMError(f"No sampling preset named {name!r}; there are: {', '.join(sampling_presets(root))}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PocketLLMError(f"The preset {path} is damaged ({exc}); delete it or save it again.") from None
    return Sampling.from_dict(data)


def save_sampling_preset(name: str, sampling: Sampling, root=None, *, overwrite: bool = True) -> Path:
    name = _check_name(name)
    if name in BUILTIN_SAMPLING:
        raise PocketLLMError(f"{name!r} is a built-in preset; choose another name.")
    path = _folder(root) / f"{name}.json"
    if path.exists() and not overwrite:
        raise PocketLLMError(f"A preset named {name!r} exists already.")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = sampling.to_dict()
    data.pop("seed", None) if data.get("seed") is None else None
    return write_json_atomic(path, data)
