"""ModelConfig: the shape of a model and the parts it is built from, validated.

The field names are the ones the book and the seed project use
(`emb_dim`, `num_heads`, ...), so their JSON config files load unchanged.
Presets live in `configs/*.json` at the top of the repository.

`arch` names a family — `gpt2`, `llama` or `qwen3` — and stands for its parts
(`ARCHS`): where positions come from (a learned table, or rotary angles with
`rope_theta`), which norm (LayerNorm or RMSNorm, `norm_eps`), which feed-forward
(GELU or SwiGLU, `hidden_dim` wide), how many key/value heads (`num_kv_heads`:
grouped-query attention), QK-norm, biases, a tied head, `head_dim`.  A config
without `arch` (every older file and checkpoint) is GPT-2, and a GPT-2 config
with GPT-2's parts writes exactly the keys it always had.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

from .errors import Phrase, PhraseList, PocketLLMError, shown

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
# Upper bounds that keep every check cheap and refuse absurd shapes before anything is
# allocated (GPT-2 XL is 48 layers × 1600 wide, vocab 50,257, context 1,024).
# Llama 3.2's context (131,072) is the longest; a rotary model has no position table to fill.
LIMITS = {"vocab_size": 1 << 18, "context_length": 1 << 17, "emb_dim": 1 << 14, "num_heads": 1 << 10,
          "num_layers": 1 << 9, "num_kv_heads": 1 << 10, "head_dim": 1 << 10, "hidden_dim": 1 << 17}
MAX_ROPE_THETA = 1e9

# The parts each family stands for (its published models' choices; sizes stay the config's):
# `ModelConfig.with_arch` puts them on any preset.  0 for num_kv_heads / head_dim / hidden_dim
# means "the usual": as many kv heads as heads, emb_dim / num_heads, and 4·emb_dim for GELU or
# 8/3·emb_dim (rounded up to a multiple of 64) for SwiGLU, which has three matrices, not two.
ARCHS = {
    "gpt2": {"position": "learned", "norm": "layernorm", "mlp": "gelu", "qk_norm": False, "qkv_bias": True,
             "bias": True, "norm_eps": 1e-5, "rope_theta": 10_000.0},
    "llama": {"position": "rope", "norm": "rmsnorm", "mlp": "swiglu", "qk_norm": False, "qkv_bias": False,
              "bias": False, "norm_eps": 1e-5, "rope_theta": 500_000.0},
    "qwen3": {"position": "rope", "norm": "rmsnorm", "mlp": "swiglu", "qk_norm": True, "qkv_bias": False,
              "bias": False, "norm_eps": 1e-6, "rope_theta": 1_000_000.0},
}
CHOICES = {"position": ("learned", "rope"), "norm": ("layernorm", "rmsnorm"), "mlp": ("gelu", "swiglu")}
# The parts' fields (beyond the seed's keys); a GPT-2 config writes those that differ from GPT-2's.
PART_FIELDS = ("arch", "position", "rope_theta", "rope_scaling", "norm", "norm_eps", "mlp", "hidden_dim",
               "num_kv_heads", "head_dim", "qk_norm", "bias")
# Llama 3's stretch of the rotary wavelengths for long contexts (its config.json's rope_scaling).
ROPE_SCALING_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_context_length")
MAX_PARAMETERS = 20_000_000_000
MAX_BATCH_SIZE = 65_536  # examples per process per micro-step of a run (the training settings' bound too)


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 50257
    context_length: int = 1024
    emb_dim: int = 768
    num_heads: int = 12
    num_layers: int = 12
    drop_rate: float = 0.1
    qkv_bias: bool = True
    # GPT-2 shares the token embedding with the output head.  The seed's own
    # pretrained .pth files have a separate head, so this can be switched off.
    tie_embeddings: bool = True
    # ---- the parts (ARCHS); the defaults are GPT-2's ----
    arch: str = "gpt2"
    position: str = "learned"       # learned (a table of context_length rows) | rope (rotary angles)
    rope_theta: float = 10_000.0    # RoPE's base wavelength
    rope_scaling: tuple | None = None  # Llama 3's (factor, low_freq_factor, high_freq_factor, original context)
    norm: str = "layernorm"         # layernorm | rmsnorm
    norm_eps: float = 1e-5
    mlp: str = "gelu"               # gelu (two linears) | swiglu (three)
    hidden_dim: int = 0             # the feed-forward's width (0: the usual for `mlp`)
    num_kv_heads: int = 0           # key/value heads, shared by groups of query heads (0: num_heads)
    head_dim: int = 0               # each head's width (0: emb_dim // num_heads)
    qk_norm: bool = False           # RMSNorm on each head's queries and keys (Qwen3)
    bias: bool = True               # biases of the attention's output and the feed-forward's linears

    def __post_init__(self):
        if isinstance(self.rope_scaling, dict):  # JSON's form -> a tuple (the config stays hashable)
            object.__setattr__(self, "rope_scaling", _scaling_tuple(self.rope_scaling))
        check_shape(asdict(self))
        for name, value in _usual_sizes(asdict(self)).items():
            object.__setattr__(self, name, value)

    # ---- construction -------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "ModelConfig":
        if not isinstance(data, dict):
            raise PocketLLMError("{source}: a model config must be a JSON object, got {type}.",
                                 code="config.not_object", source=source, type=type(data).__name__)
        known = {f.name for f in fields(cls)}
        required = known - {"tie_embeddings", *PART_FIELDS}
        data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_comment" keys allowed
        if "qkv_bias" not in data and data.get("arch") in ARCHS:  # a family's preset may leave it to the family
            data["qkv_bias"] = ARCHS[data["arch"]]["qkv_bias"]
        unknown = sorted(set(data) - known)
        if unknown:
            raise PocketLLMError("{source}: unknown key(s) {unknown}. Allowed keys: {allowed}.",
                                 code="config.unknown_keys", source=source, unknown=", ".join(unknown),
                                 allowed=", ".join(sorted(known)))
        missing = sorted(required - set(data))
        if missing:
            raise PocketLLMError("{source}: missing key(s) {missing}.", code="config.missing_keys",
                                 source=source, missing=", ".join(missing))
        if not isinstance(data.get("arch", "gpt2"), str) or data.get("arch", "gpt2") not in ARCHS:
            check_shape({**_field_defaults(), **data}, where=f"{source}: ")  # says the unknown arch
        family = ARCHS[data.get("arch", "gpt2")]
        data = {**_field_defaults(), **{k: v for k, v in family.items() if k != "qkv_bias"}, **data}
        if isinstance(data["rope_scaling"], dict):
            data["rope_scaling"] = _scaling_tuple(data["rope_scaling"])
        check_shape(data, where=f"{source}: ")
        return cls(**data)

    @classmethod
    def from_json(cls, path) -> "ModelConfig":
        path = Path(path)
        if not path.is_file():
            raise PocketLLMError("Config file not found: {path}. Presets: {presets}.", code="config.not_found",
                                 path=str(path), presets=", ".join(list_presets()))
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PocketLLMError("{path} is not valid JSON: {detail}.", code="config.bad_json", path=str(path),
                                 detail=str(exc)) from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def load(cls, name_or_path) -> "ModelConfig":
        """A preset name (`gpt2-124M`, `cpu-small`) or a path to a JSON file."""
        text = str(name_or_path)
        preset = CONFIGS_DIR / f"{text}.json"
        if not text.endswith(".json") and preset.is_file():
            return cls.from_json(preset)
        return cls.from_json(text)

    def replace(self, **changes) -> "ModelConfig":
        """The same config with `changes`; a changed width or head count re-derives the usual
        sizes (hidden_dim, head_dim, num_kv_heads) unless they are changed too."""
        data = asdict(self)
        if {"emb_dim", "num_heads", "mlp"} & set(changes):
            for name in ("hidden_dim", "head_dim", "num_kv_heads"):
                if data[name] == _usual_sizes({**data, name: 0})[name]:
                    data[name] = 0
        data.update(changes)
        return ModelConfig(**data)

    def with_arch(self, arch: str) -> "ModelConfig":
        """This config's sizes (vocabulary, context, width, heads, layers, dropout, tied head)
        built from `arch`'s parts (`ARCHS`): `--arch qwen3 --config cpu-small`."""
        sizes = {k: getattr(self, k) for k in ("vocab_size", "context_length", "emb_dim", "num_heads",
                                               "num_layers", "drop_rate", "tie_embeddings")}
        return ModelConfig.from_dict({**sizes, "arch": arch}, source=f"--arch {arch}")

    def to_dict(self) -> dict:
        """The config as JSON keys; a GPT-2 config leaves out the parts that are GPT-2's usual ones,
        so it is the seed's own file and older PocketLLMs read it."""
        data = asdict(self)
        if data["rope_scaling"] is not None:
            data["rope_scaling"] = dict(zip(ROPE_SCALING_KEYS, data["rope_scaling"]))
        if self.arch == "gpt2":
            usual = {**_field_defaults(), **ARCHS["gpt2"], **_usual_sizes({**data, "hidden_dim": 0, "head_dim": 0,
                                                                            "num_kv_heads": 0})}
            for name in PART_FIELDS:
                if data[name] == usual[name]:
                    del data[name]
        return data

    @property
    def kv_groups(self) -> int:
        """Query heads per key/value head (1: ordinary multi-head attention)."""
        return self.num_heads // self.num_kv_heads

    # ---- facts about the shape ----------------------------------------
    def num_parameters(self) -> int:
        """Parameters of the language model (tied head counted once), counted on its modules
        built on the meta device (no memory, no time): one block, times num_layers."""
        return _counted_parameters(self)["total"]

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token: 6·N (matmuls, forward+backward; N without the position
        table, a lookup) + 12·L·T·(heads·head_dim) (attention's scores and weighted sums)."""
        t = seq_len or self.context_length
        n = self.num_parameters() - _counted_parameters(self)["positions"]
        return 6 * n + 12 * self.num_layers * t * self.num_heads * self.head_dim

    def training_memory(self, batch_size: int, seq_len: int | None = None) -> dict:
        """A rough estimate of training memory in bytes (fp32).

        - weights 4·N, gradients 4·N, AdamW's two moments 8·N → 16·N;
        - activations kept for backward ≈ 4·B·T·(L·(16·d + 2·h·T) + 2·V): per block and
          token about 16·d numbers (norm inputs, q/k/v, attention output, the 4·d-wide
          feed-forward before and after GELU, residuals) plus h·T attention scores and
          their softmax; then the logits and their gradient, 2·V per token — the largest
          part for small models.  bf16 autocast roughly halves the activations.
        """
        if not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and 1 <= batch_size <= MAX_BATCH_SIZE):
            raise PocketLLMError("batch_size must be a whole number from 1 to {limit:,} (got {value}).",
                                 code="config.bad_batch_size", limit=MAX_BATCH_SIZE, value=shown(batch_size))
        n, t = self.num_parameters(), seq_len or self.context_length
        b, d, h, v, layers = batch_size, self.emb_dim, self.num_heads, self.vocab_size, self.num_layers
        activations = 4 * b * t * (layers * (16 * d + 2 * h * t) + 2 * v)
        return {"parameters": n, "weights": 4 * n, "states": 16 * n, "activations": activations,
                "total": 16 * n + activations}


def check_shape(values: dict, where: str = ""):
    """Refuse a shape with a problem, saying every problem; `where` ("file.json: ") names the
    file. O(1): nothing is built.  Each problem is a coded `Phrase`, so the page says them all
    in its language."""
    problems = _shape_problems({**_field_defaults(), **values})
    if problems:
        raise PocketLLMError("{where}Invalid model config: {problems}.", code="config.invalid", where=where,
                             problems=PhraseList(problems))


def _shape_problems(v: dict) -> list[Phrase]:
    """Every problem of the shape `v` (ModelConfig's fields), none raised."""
    problems = []
    for name in ("vocab_size", "context_length", "emb_dim", "num_heads", "num_layers"):
        value = v[name]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(Phrase("{name} must be a positive whole number (got {value})",
                                   code="config.not_positive", name=name, value=shown(value)))
        elif value > LIMITS[name]:
            problems.append(Phrase("{name} must be at most {limit:,} (got {value})", code="config.too_large",
                                   name=name, limit=LIMITS[name], value=shown(value)))
    problems += _part_problems(v)
    drop = v["drop_rate"]  # before the count below builds modules (a Dropout refuses it itself)
    if not isinstance(drop, (int, float)) or isinstance(drop, bool) or not 0.0 <= drop <= 1.0:
        problems.append(Phrase("drop_rate must be between 0 and 1 (got {value})", code="config.bad_drop_rate",
                               value=shown(drop)))
    for name in ("qkv_bias", "tie_embeddings", "qk_norm", "bias"):
        if not isinstance(v[name], bool):
            problems.append(Phrase("{name} must be true or false (got {value})", code="config.not_bool",
                                   name=name, value=shown(v[name])))
    parameters = 0 if problems else _counted_parameters(_Sizes(v))["total"]  # sizes are sane now
    if parameters > MAX_PARAMETERS:
        problems.append(Phrase("the model would have {parameters:,} parameters; PocketLLM builds at most {limit:,} "
                               "— use fewer layers or a smaller width", code="config.too_many_parameters",
                               parameters=parameters, limit=MAX_PARAMETERS))
    if not problems and not v["head_dim"] and v["emb_dim"] % v["num_heads"]:
        problems.append(Phrase("emb_dim ({emb_dim}) must be divisible by num_heads ({num_heads}); try "
                               "num_heads={suggested}", code="config.heads_do_not_divide", emb_dim=v["emb_dim"],
                               num_heads=v["num_heads"], suggested=_nearest_divisor(v["emb_dim"], v["num_heads"])))
    return problems


def _part_problems(v: dict) -> list[Phrase]:
    """The problems of the parts' fields (arch, position, norm, mlp and their sizes)."""
    problems = []
    if not isinstance(v["arch"], str) or v["arch"] not in ARCHS:
        problems.append(Phrase("{name} must be one of {choices} (got {value})", code="config.bad_choice",
                               name="arch", choices=", ".join(ARCHS), value=shown(v["arch"])))
    for name, choices in CHOICES.items():
        if not isinstance(v[name], str) or v[name] not in choices:
            problems.append(Phrase("{name} must be one of {choices} (got {value})", code="config.bad_choice",
                                   name=name, choices=", ".join(choices), value=shown(v[name])))
    for name, low, high in (("rope_theta", 1.0, MAX_ROPE_THETA), ("norm_eps", 1e-12, 0.1)):
        value = v[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            problems.append(Phrase("{name} must be a number from {low:g} to {high:g} (got {value})",
                                   code="config.out_of_range", name=name, low=low, high=high, value=shown(value)))
    for name in ("hidden_dim", "num_kv_heads", "head_dim"):
        value = v[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(Phrase("{name} must be a whole number, 0 for the usual (got {value})",
                                   code="config.not_size", name=name, value=shown(value)))
        elif value > LIMITS[name]:
            problems.append(Phrase("{name} must be at most {limit:,} (got {value})", code="config.too_large",
                                   name=name, limit=LIMITS[name], value=shown(value)))
    scaling = v["rope_scaling"]
    if scaling is not None and not (isinstance(scaling, tuple) and len(scaling) == len(ROPE_SCALING_KEYS) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= LIMITS["context_length"]
            for x in scaling)):
        problems.append(Phrase("rope_scaling must be null or {{{keys}}} with positive numbers (got {value})",
                               code="config.bad_rope_scaling", keys=", ".join(ROPE_SCALING_KEYS),
                               value=shown(scaling)))
    if problems:
        return problems
    heads, kv = v["num_heads"], v["num_kv_heads"]
    if isinstance(heads, int) and kv and 0 < heads and (kv > heads or heads % kv):
        problems.append(Phrase("num_heads ({num_heads}) must be a multiple of num_kv_heads ({num_kv_heads}): each "
                               "key/value head serves a whole group of query heads", code="config.kv_heads_do_not_divide",
                               num_heads=heads, num_kv_heads=kv))
    head_dim = v["head_dim"] or (v["emb_dim"] // heads if isinstance(heads, int) and heads > 0
                                 and isinstance(v["emb_dim"], int) else 2)
    if v["position"] == "rope" and head_dim % 2:
        problems.append(Phrase("rotary positions turn pairs of numbers, so head_dim must be even (got {head_dim})",
                               code="config.odd_head_dim", head_dim=head_dim))
    return problems


def _scaling_tuple(scaling: dict):
    """rope_scaling as JSON writes it (a dict, also Hugging Face's spelling) -> our tuple, or the
    dict itself when its keys are not the four (the check then says so)."""
    keys = dict(scaling)
    if "original_max_position_embeddings" in keys:
        keys["original_context_length"] = keys.pop("original_max_position_embeddings")
    keys.pop("rope_type", None)
    if set(keys) != set(ROPE_SCALING_KEYS):
        return ("?",) + tuple(sorted(map(str, keys)))[:6]
    return tuple(keys[k] for k in ROPE_SCALING_KEYS)


@lru_cache(maxsize=None)
def _field_defaults() -> dict:
    return {f.name: f.default for f in fields(ModelConfig)}


def _usual_sizes(v: dict) -> dict:
    """hidden_dim, head_dim and num_kv_heads with 0 ("the usual") filled in."""
    d, heads = v["emb_dim"], v["num_heads"]
    usual_hidden = 4 * d if v["mlp"] == "gelu" else 64 * math.ceil(8 * d / 3 / 64)
    return {"hidden_dim": v["hidden_dim"] or usual_hidden, "head_dim": v["head_dim"] or d // heads,
            "num_kv_heads": v["num_kv_heads"] or heads}


class _Sizes:
    """A checked field dict as attributes (with the usual sizes filled in), for counting."""

    def __init__(self, v: dict):
        self.__dict__.update({**v, **_usual_sizes(v)})

    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(ModelConfig) if f.name not in ("drop_rate", "rope_theta",
                                                                                          "rope_scaling", "norm_eps"))


def _counted_parameters(cfg) -> dict:
    sizes = cfg if isinstance(cfg, _Sizes) else _Sizes(asdict(cfg))
    return _count(sizes.key(), sizes)


_COUNTS: dict = {}


def _count(key: tuple, sizes) -> dict:
    """Parameters of the model `sizes` describes, from its modules on the meta device: the model
    with one block, plus (num_layers - 1) more blocks like it.  O(1) in the number of layers."""
    if key not in _COUNTS:
        from .model.gpt import count_parameters  # (model/ imports this module)
        if len(_COUNTS) > 256:
            _COUNTS.clear()
        _COUNTS[key] = count_parameters(sizes)
    return _COUNTS[key]


def _nearest_divisor(n: int, near: int) -> int:
    """The divisor of n closest to `near` (n is bounded by LIMITS, and we walk only to √n)."""
    divisors = set()
    k = 1
    while k * k <= n:
        if n % k == 0:
            divisors.update((k, n // k))
        k += 1
    return min(sorted(divisors), key=lambda d: abs(d - near))


def list_presets() -> list[str]:
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.json"))
