"""ModelConfig: the shape of a GPT-2-class model, validated.

The field names are the ones the book and the seed project use
(`emb_dim`, `num_heads`, ...), so their JSON config files load unchanged.
Presets live in `configs/*.json` at the top of the repository.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import SimpleNamespace

from .errors import Phrase, PhraseList, PocketLLMError, shown

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
# Upper bounds that keep every check cheap and refuse absurd shapes before anything is
# allocated (GPT-2 XL is 48 layers × 1600 wide, vocab 50,257, context 1,024).
LIMITS = {"vocab_size": 1 << 18, "context_length": 1 << 16, "emb_dim": 1 << 14, "num_heads": 1 << 10,
          "num_layers": 1 << 9}
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

    def __post_init__(self):
        check_shape(asdict(self))

    # ---- construction -------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "ModelConfig":
        if not isinstance(data, dict):
            raise PocketLLMError("{source}: a model config must be a JSON object, got {type}.",
                                 code="config.not_object", source=source, type=type(data).__name__)
        known = {f.name for f in fields(cls)}
        required = known - {"tie_embeddings"}
        data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_comment" keys allowed
        unknown = sorted(set(data) - known)
        if unknown:
            raise PocketLLMError("{source}: unknown key(s) {unknown}. Allowed keys: {allowed}.",
                                 code="config.unknown_keys", source=source, unknown=", ".join(unknown),
                                 allowed=", ".join(sorted(known)))
        missing = sorted(required - set(data))
        if missing:
            raise PocketLLMError("{source}: missing key(s) {missing}.", code="config.missing_keys",
                                 source=source, missing=", ".join(missing))
        check_shape({**data, "tie_embeddings": data.get("tie_embeddings", True)}, where=f"{source}: ")
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
        data = asdict(self)
        data.update(changes)
        return ModelConfig(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    # ---- facts about the shape ----------------------------------------
    @property
    def head_dim(self) -> int:
        return self.emb_dim // self.num_heads

    def num_parameters(self) -> int:
        """Parameters of the language model (tied head counted once)."""
        d, v = self.emb_dim, self.vocab_size
        per_block = (3 * d * d + (3 * d if self.qkv_bias else 0)) + (d * d + d) \
            + (4 * d * d + 4 * d) + (4 * d * d + d) + 4 * d
        total = v * d + self.context_length * d + self.num_layers * per_block + 2 * d
        if not self.tie_embeddings:
            total += v * d
        return total

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token: 6·N (matmuls, forward+backward) + 12·L·T·d (attention)."""
        t = seq_len or self.context_length
        n = self.num_parameters() - self.context_length * self.emb_dim
        return 6 * n + 12 * self.num_layers * t * self.emb_dim

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
    problems = _shape_problems(values)
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
    parameters = 0 if problems else ModelConfig.num_parameters(SimpleNamespace(**v))  # sizes are sane now
    if parameters > MAX_PARAMETERS:
        problems.append(Phrase("the model would have {parameters:,} parameters; PocketLLM builds at most {limit:,} "
                               "— use fewer layers or a smaller width", code="config.too_many_parameters",
                               parameters=parameters, limit=MAX_PARAMETERS))
    if not problems and v["emb_dim"] % v["num_heads"]:
        problems.append(Phrase("emb_dim ({emb_dim}) must be divisible by num_heads ({num_heads}); try "
                               "num_heads={suggested}", code="config.heads_do_not_divide", emb_dim=v["emb_dim"],
                               num_heads=v["num_heads"], suggested=_nearest_divisor(v["emb_dim"], v["num_heads"])))
    drop = v["drop_rate"]
    if not isinstance(drop, (int, float)) or isinstance(drop, bool) or not 0.0 <= drop <= 1.0:
        problems.append(Phrase("drop_rate must be between 0 and 1 (got {value})", code="config.bad_drop_rate",
                               value=shown(drop)))
    for name in ("qkv_bias", "tie_embeddings"):
        if not isinstance(v[name], bool):
            problems.append(Phrase("{name} must be true or false (got {value})", code="config.not_bool",
                                   name=name, value=shown(v[name])))
    return problems


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
