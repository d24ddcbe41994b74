"""`generate`: continue a prompt, or chat in a loop like the seed's generate.py."""
from __future__ import annotations

import sys

from ..kinds import TaskKind
from ._common import add_sampling_args, open_model, sampling_from_args


def register(sub):
    p = sub.add_parser("generate", help="generate text from a prompt (interactive without --prompt)",
                       description="Generate text with a PocketLLM checkpoint, Hugging Face GPT-2 "
                                   "weights (pytorch_model.bin / model.safetensors) or a seed .pth.")
    p.add_argument("--model_path", default="model.safetensors",
                   help="checkpoint or GPT-2 weights file (default model.safetensors)")
    p.add_argument("--config", default=None,
                   help="model config (preset name or JSON); only needed for the seed's .pth files")
    p.add_argument("--prompt", default=None, help="text to continue; omit for an interactive loop")
    p.add_argument("--dtype", default=None,
                   help="fp32 (default), bf16 (half the memory), or int8 (int8 weights, activations "
                        "quantized per matmul: fastest on a CPU, output differs slightly)")
    p.add_argument("--show_probs", action="store_true",
                   help="after the text, list each generated token with the model's probability for it and "
                        "the alternatives it weighed")
    add_sampling_args(p)
    p.set_defaults(run=run)


def _vis(text: str) -> str:
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def run(args):
    from ..generation import stream
    ckpt = open_model(args)
    sampling = sampling_from_args(args)
    if ckpt.task_type == TaskKind.CLASSIFY:
        print("error: this checkpoint is a classifier; use `python -m pocketllm classify`.", file=sys.stderr)
        return 2

    def answer(prompt):
        if args.show_probs:
            return explain(prompt)
        sys.stdout.write(prompt)
        for piece in stream(ckpt, prompt, args.max_new_tokens, sampling):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")

    def explain(prompt):
        from ..generation import generate_explained
        tokens = generate_explained(ckpt, prompt, args.max_new_tokens, sampling)
        print(prompt + "".join(t.piece for t in tokens))
        print(f"\n{'token':<14} {'p':>6}  alternatives")
        for t in tokens:  # every probability in one format: a percentage
            others = "  ".join(f"{_vis(label)} {p:.1%}" for label, p in t.top if label != t.label)[:90]
            print(f"{_vis(t.label):<14} {t.prob:>6.1%}  {others}")

    if args.prompt is not None:
        answer(args.prompt)
        return 0
    print("Type a prompt and press Enter (Ctrl-D or an empty line to quit).")
    while True:
        try:
            prompt = input("用户: ")
        except EOFError:
            break
        if not prompt.strip():
            break
        sys.stdout.write("模型: ")
        answer(prompt)
    return 0
