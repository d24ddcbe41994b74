"""Named settings a learner saves and loads: sampler presets (and their built-in three).

A preset is one small JSON file, `<folder>/sampling/<name>.json`, holding the fields
of `Sampling` — readable, diffable, easy to share.  The folder is the checkpoints
folder by default, where everything else the user makes lives.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from .errors import PocketLLMError
from .files import write_json_atomic, write_text_atomic
from .generation import Sampling
from .kinds import TaskKind, task_kind

BUILTIN_SAMPLING = {
    "greedy": Sampling(),
    "balanced": Sampling(temperature=0.7, top_k=40, top_p=0.95, repetition_penalty=1.1),
    "creative": Sampling(temperature=1.1, top_p=0.98, min_p=0.05),
}
_NAME = re.compile(r"^[\w\-. ]{1,40}$")  # \w covers Chinese characters too


def _folder(root) -> Path:
    from .tasks.run_setup import DEFAULT_CHECKPOINTS
    return Path(root or DEFAULT_CHECKPOINTS) / "presets" / "sampling"


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name) or name.startswith("."):
        raise PocketLLMError("A preset name is 1 to 40 letters, digits, spaces, - _ or . (got {name!r}).",
                             code="presets.bad_name", name=name[:50])
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
        raise PocketLLMError("No sampling preset named {name!r}; there are: {known}.", code="presets.no_sampling",
                             name=name, known=", ".join(sampling_presets(root)))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PocketLLMError("The preset {path} is damaged ({detail}); delete it or save it again.",
                             code="presets.damaged", path=str(path), detail=str(exc)) from None
    return Sampling.from_dict(data)


def save_sampling_preset(name: str, sampling: Sampling, root=None, *, overwrite: bool = True) -> Path:
    name = _check_name(name)
    if name in BUILTIN_SAMPLING:
        raise PocketLLMError("{name!r} is a built-in preset; choose another name.", code="presets.builtin",
                             name=name)
    path = _folder(root) / f"{name}.json"
    if path.exists() and not overwrite:
        raise PocketLLMError("A preset named {name!r} exists already.", code="presets.exists", name=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = sampling.to_dict()
    data.pop("seed", None) if data.get("seed") is None else None
    return write_json_atomic(path, data)


# ---- training settings -------------------------------------------------------------------

TRAINING_KINDS = tuple(kind.value for kind in TaskKind)  # also the presets' folder names
# Where a run writes and what it continues belong to that run, not to a reusable recipe.
_RUN_ONLY = ("model_path", "run_dir", "resume", "overwrite")


def _settings_class(kind: str):
    from .tasks import ClassifySettings, InstructSettings, PretrainSettings
    classes = {TaskKind.PRETRAIN: PretrainSettings, TaskKind.CLASSIFY: ClassifySettings,
               TaskKind.INSTRUCT: InstructSettings}
    if task_kind(kind) not in classes:
        raise PocketLLMError("Unknown kind of training {kind!r}; one of {known}.", code="presets.unknown_kind",
                             kind=str(kind), known=", ".join(TRAINING_KINDS))
    return classes[task_kind(kind)]


def save_shape(config, root=None) -> Path:
    """A model shape (a `ModelConfig`) as a config file the settings can name (`config` takes a
    preset name or a JSON path), under the checkpoints folder's presets/shapes/ and named by its
    content, so the same shape is one file."""
    text = json.dumps(config.to_dict(), indent=2)
    path = _folder(root).parent / "shapes" / f"{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    return path


def _training_folder(kind: str, root) -> Path:
    return _folder(root).parent / task_kind(kind).value


def training_presets(kind: str, root=None) -> list[str]:
    _settings_class(kind)
    folder = _training_folder(kind, root)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def save_training_preset(kind: str, name: str, settings, root=None) -> Path:
    """Save a run's settings (a PretrainSettings, ClassifySettings or InstructSettings) by name."""
    cls = _settings_class(kind)
    if not isinstance(settings, cls):
        raise PocketLLMError("{kind} settings must be a {cls}.", code="presets.wrong_settings",
                             kind=str(kind), cls=cls.__name__)
    data = {k: v for k, v in settings.to_dict().items() if k not in _RUN_ONLY}
    path = _training_folder(kind, root) / f"{_check_name(name)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, data)


def load_training_preset(kind: str, name: str, root=None):
    """The saved settings, as a settings object ready to adjust and run."""
    cls = _settings_class(kind)
    path = _training_folder(kind, root) / f"{_check_name(name)}.json"
    if not path.is_file():
        known = training_presets(kind, root)
        if not known:
            raise PocketLLMError("No saved {kind} settings named {name!r}: no {kind} settings are saved yet.",
                                 code="presets.no_training_yet", kind=str(kind), name=name)
        raise PocketLLMError("No saved {kind} settings named {name!r}; there are: {known}.",
                             code="presets.no_training", kind=str(kind), name=name, known=", ".join(known))
    try:
        settings = cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        settings.train.validate()
        return settings
    except (OSError, ValueError, TypeError) as exc:
        raise PocketLLMError("The saved settings {path} are damaged ({detail}); delete them or save again.",
                             code="presets.damaged_settings", path=str(path), detail=str(exc)) from None
