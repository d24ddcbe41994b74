"""Helpers shared by the CLI commands (argument groups, model loading)."""
from __future__ import annotations

from ..checkpoint import load_model
from ..errors import PocketLLMError
from ..training.hardware import DTYPES


def add_sampling_args(p, temperature_default=0.0):
    p.add_argument("--max_new_tokens", type=int, default=50, help="tokens to generate (default 50)")
    p.add_argument("--temperature", type=float, default=temperature_default,
                   help=f"0 = greedy; higher = more random (default {temperature_default})")
    p.add_argument("--top_k", type=int, default=None, help="sample only from the k most likely tokens")
    p.add_argument("--top_p", type=float, default=None, help="nucleus sampling threshold in (0, 1]")
    p.add_argument("--seed", type=int, default=None, help="random seed: same seed, same text")
    p.add_argument("--allow_broken_chars", action="store_true",
                   help="let sampling pick tokens that leave half a character (shows as �); by default "
                        "only tokens that keep the text valid UTF-8 are drawn")


def sampling_from_args(args):
    from ..generation import Sampling
    return Sampling(args.temperature, args.top_k, args.top_p, args.seed,
                    valid_utf8=not getattr(args, "allow_broken_chars", False))


def parse_dtype(name: str | None):
    if name is None or name == "auto":
        return None
    try:
        return DTYPES[name]
    except KeyError:
        raise PocketLLMError(f"Unknown dtype {name!r}; use one of fp32, bf16, int8, fp16.") from None


def open_model(args, device="cpu"):
    """Load --model_path (with --config for the seed's .pth files) at --dtype (int8: quantized)."""
    name = getattr(args, "dtype", None)
    if name == "int8":
        from ..quantize import to_precision
        ckpt = load_model(args.model_path, config=getattr(args, "config", None), device=device)
        to_precision(ckpt.model, "int8")
        return ckpt
    return load_model(args.model_path, config=getattr(args, "config", None), device=device,
                      dtype=parse_dtype(name))
