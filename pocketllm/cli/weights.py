"""`import-gpt2`, `import-hf`, `export-hf`, `info`: move weights in and out and describe them."""
from __future__ import annotations

import json

from ..errors import PocketLLMError


def register(sub):
    p = sub.add_parser("import-gpt2", help="convert OpenAI GPT-2 weights into a PocketLLM checkpoint")
    p.add_argument("--from", dest="source", required=True,
                   help="pytorch_model.bin, model.safetensors, a folder holding one, or a name "
                        "(gpt2, gpt2-medium, gpt2-large, gpt2-xl) to download when online")
    p.add_argument("--model_path", required=True, help="where to write the .safetensors checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace --model_path if it exists")
    p.set_defaults(run=run_import)

    p = sub.add_parser("import-hf", help="convert a Hugging Face model folder (GPT-2, Llama, Qwen3) into a "
                                         "PocketLLM checkpoint")
    p.add_argument("--from", dest="source", required=True,
                   help="a folder as save_pretrained writes it: config.json and model.safetensors, or shards and "
                        "model.safetensors.index.json (GPT2LMHeadModel, LlamaForCausalLM, Qwen3ForCausalLM); or a "
                        "hub name such as Qwen/Qwen3-0.6B to download when online")
    p.add_argument("--model_path", required=True, help="where to write the .safetensors checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace --model_path if it exists")
    p.set_defaults(run=run_import_hf)

    p = sub.add_parser("export-hf", help="export a language model to its family's Hugging Face layout "
                                         "(GPT-2, Llama or Qwen3)")
    p.add_argument("--model_path", required=True)
    p.add_argument("--config", default=None, help="only for the seed's .pth files")
    p.add_argument("--out_dir", required=True, help="folder for config.json + model.safetensors")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=run_export)

    p = sub.add_parser("info", help="describe a checkpoint: config, task, parameters, size")
    p.add_argument("--model_path", required=True)
    p.add_argument("--config", default=None, help="only for the seed's .pth files")
    p.set_defaults(run=run_info)


def run_import(args):
    from pathlib import Path
    from ..checkpoint import save_checkpoint
    from ..gpt2 import import_gpt2
    out = Path(args.model_path)
    if out.exists() and not args.overwrite:
        raise PocketLLMError("{path} already exists; choose another --model_path or pass --overwrite.",
                             code="weights.import_exists", path=str(out))
    ckpt = import_gpt2(args.source)
    save_checkpoint(out, ckpt.model, ckpt.task, ckpt.facts, overwrite=True, tokenizer=ckpt.tokenizer)
    print(f"imported {ckpt.config.num_parameters():,} parameters "
          f"({ckpt.config.num_layers} layers × {ckpt.config.emb_dim} wide) → {out}")


def run_import_hf(args):
    from pathlib import Path
    from ..checkpoint import save_checkpoint
    from ..huggingface import import_hf
    out = Path(args.model_path)
    if out.exists() and not args.overwrite:
        raise PocketLLMError("{path} already exists; choose another --model_path or pass --overwrite.",
                             code="weights.import_exists", path=str(out))
    ckpt = import_hf(args.source)
    note = ckpt.facts.get("tokenizer_note")
    save_checkpoint(out, ckpt.model, ckpt.task, ckpt.facts, overwrite=True, tokenizer=None if note else ckpt.tokenizer)
    c = ckpt.config
    print(f"imported {c.arch} ({ckpt.facts['hf_architecture']}): {c.num_parameters():,} parameters "
          f"({c.num_layers} layers × {c.emb_dim} wide, {c.num_heads} heads / {c.num_kv_heads} kv heads), "
          f"{str(ckpt.model.tok_emb.weight.dtype).removeprefix('torch.')} → {out}")
    if note:
        print(f"note: {note}")


def run_export(args):
    from ..checkpoint import load_model
    from ..gpt2 import export_hf
    from ..hf_layout import ARCHITECTURE_OF_FAMILY
    ckpt = load_model(args.model_path, config=args.config)
    out = export_hf(ckpt, args.out_dir, overwrite=args.overwrite)
    cls = ARCHITECTURE_OF_FAMILY[ckpt.config.arch]
    tokenizer = ("" if "tokenizer_note" in ckpt.facts
                 else f" and the {ckpt.tokenizer.kind} tokenizer's files")
    print(f"wrote {out / 'config.json'}, {out / 'model.safetensors'}{tokenizer} "
          f"(load with transformers.{cls}.from_pretrained('{out}')"
          + (f" and AutoTokenizer.from_pretrained('{out}'))" if tokenizer else ")"))


def run_info(args):
    from ..checkpoint import load_model
    from ..describe import describe
    ckpt = load_model(args.model_path, config=args.config)
    info = describe(ckpt)
    width = max(len(k) for k in info["summary"])
    for key, value in info["summary"].items():
        print(f"{key:<{width}}  {value}")
    print("\nparameters per component:")
    for row in info["components"]:
        print(f"  {row['component']:<16} {row['parameters']:>14,}  {row['share']:>6.1%}")
    print("\nconfig:", json.dumps(ckpt.config.to_dict()))
    print("task:  ", json.dumps(ckpt.task, ensure_ascii=False))
    if ckpt.facts:  # (the tokenizer and vocabulary are said above, once)
        facts = {k: v for k, v in ckpt.facts.items() if k not in ("tokenizer", "vocab_size", "report_card")}
        print("facts: ", json.dumps(facts, ensure_ascii=False))
    from ..report_card import card_lines
    for line in card_lines(ckpt.facts.get("report_card") or {}):  # a finished run's figures (report_card.py)
        print(line)
