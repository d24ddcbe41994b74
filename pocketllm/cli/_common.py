"""Helpers shared by the CLI commands (argument groups, model loading)."""
from __future__ import annotations

from ..checkpoint import load_model
from ..errors import PocketLLMError
from ..training.hardware import DTYPES


def add_sampling_args(p, temperature_default=0.0):
    p.add_argument("--max_new_tokens", type=int, default=50, help="tokens to generate (default 50)")
    p.add_argument("--temperature", type=float, default=None,
                   help=f"0 = greedy; higher = more random (default {temperature_default}, or the preset's)")
    p.set_defaults(temperature_default=temperature_default)
    p.add_argument("--top_k", type=int, default=None, help="sample only from the k most likely tokens")
    p.add_argument("--top_p", type=float, default=None, help="nucleus sampling threshold in (0, 1]")
    p.add_argument("--seed", type=int, default=None, help="random seed: same seed, same text")
    p.add_argument("--repetition_penalty", type=float, default=None,
                   help="push down tokens already in the text: 1 = off, 1.1–1.3 breaks loops")
    p.add_argument("--frequency_penalty", type=float, default=None, help="logit − f × times seen (−2..2)")
    p.add_argument("--presence_penalty", type=float, default=None, help="logit − p if seen at all (−2..2)")
    p.add_argument("--min_p", type=float, default=None,
                   help="keep tokens with at least min_p × the top token's probability (e.g. 0.05)")
    p.add_argument("--stop", action="append", default=None, metavar="TEXT",
                   help="end the text where TEXT appears (not included); repeat for several")
    p.add_argument("--preset", default=None,
                   help="start from a saved sampler preset (greedy, balanced, creative, or one you saved); "
                        "flags given on the line override it")
    p.add_argument("--save_preset", default=None, metavar="NAME",
                   help="save these sampler settings as a preset named NAME (in checkpoints/presets/)")
    p.add_argument("--allow_broken_chars", action="store_true",
                   help="let sampling pick tokens that leave half a character (shows as �); by default "
                        "only tokens that keep the text valid UTF-8 are drawn")


SAMPLING_FLAGS = ("temperature", "top_k", "top_p", "seed", "repetition_penalty", "frequency_penalty",
                  "presence_penalty", "min_p", "stop")


def sampling_from_args(args):
    """The preset (if any), then every sampling flag the user gave; saved with --save_preset."""
    from ..generation import Sampling
    from ..presets import load_sampling_preset, save_sampling_preset
    base = (load_sampling_preset(args.preset).to_dict() if getattr(args, "preset", None)
            else {"temperature": getattr(args, "temperature_default", 0.0)})
    given = {k: getattr(args, k) for k in SAMPLING_FLAGS if getattr(args, k, None) is not None}
    data = {**base, **given, "valid_utf8": not getattr(args, "allow_broken_chars", False)}
    sampling = Sampling.from_dict(data)
    if getattr(args, "save_preset", None):
        path = save_sampling_preset(args.save_preset, sampling)
        print(f"saved sampler preset {args.save_preset!r} → {path}", file=__import__("sys").stderr)
    return sampling


def parse_dtype(name: str | None):
    if name is None or name == "auto":
        return None
    try:
        return DTYPES[name]
    except KeyError:
        raise PocketLLMError("Unknown dtype {name!r}; use one of fp32, bf16, int8, fp16.", code="cli.unknown_dtype",
                             name=name) from None


def open_model(args, device="cpu"):
    """Load --model_path (with --config for the seed's .pth files) at --dtype (int8: quantized)."""
    name = getattr(args, "dtype", None)
    if name == "int8":
        from ..quantize import to_precision
        ckpt = load_model(args.model_path, config=getattr(args, "config", None), device=device)
        to_precision(ckpt.model, "int8")
        return ckpt
    ckpt = load_model(args.model_path, config=getattr(args, "config", None), device=device, dtype=parse_dtype(name))
    if str(ckpt.model.tok_emb.weight.dtype) == "torch.float32":  # the page's fp32 generation: weights laid
        from ..quantize import to_precision  # out for decoding (the same model, about twice as fast on a CPU)
        to_precision(ckpt.model, "fp32")
    return ckpt
