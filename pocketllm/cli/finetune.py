"""Finetuning commands: `classify-train`, `classify`, `instruct-train`, `instruct`.

They take the seed project's flags (`--config --data_path --model_path
--gpt2_model_path`) and print the seed's interactive loops (`用户:` / `模型:`,
`任务指令:` / `任务输入:` / `模型:`).
"""
from __future__ import annotations

import argparse
import sys
import threading

from ..errors import PocketLLMError
from ..kinds import TaskKind
from ._common import add_sampling_args, sampling_from_args
from ..tasks.classification import GROW_WHEN, NEW_TOKENS, ClassifySettings
from ..data.instructions import TEMPLATES
from ..tasks.instruction import InstructSettings
from .pretrain import add_train_args, train_settings_from_args


def _add_base_args(p, what: str):
    p.add_argument("--config", default=None,
                   help="model preset or JSON: the shape of a fresh model when no base is given "
                        "(default cpu-small), or of a seed .pth base")
    p.add_argument("--data_path", default=None, help=what)
    p.add_argument("--model_path", default=None,
                   help="where to save the finetuned checkpoint (default: <run_dir>/model.safetensors)")
    p.add_argument("--base_model", default=None,
                   help="start from this model: a PocketLLM checkpoint, Hugging Face GPT-2 weights or a seed .pth")
    p.add_argument("--gpt2_model_path", default=None,
                   help="the seed's name for --base_model (e.g. pytorch_model.bin)")
    p.add_argument("--lora_rank", type=int, default=None, help="LoRA adapter rank")
    p.add_argument("--lora_alpha", type=float, default=16.0, help="LoRA scale numerator (default 16)")
    p.add_argument("--no_adapter_file", action="store_true",
                   help="with LoRA, do not also save the adapters apart (<model>.lora.safetensors)")


def _end_lines(end: dict, model_path) -> list[str]:
    """How a finetuning run ended: where it stopped, and which step's weights it kept (chosen by
    the evaluations during training; the scores printed are the kept weights' on whole splits)."""
    kind, step = end.get("kind", "ended"), end.get("step")
    head = f"stopped early at step {step}" if end.get("stopped_early") else f"{kind} at step {step}"
    kept = end.get("kept_step")
    if kept is not None:
        head += f"; kept the weights of step {kept} (the best validation score during training)"
    return [head, f"checkpoint {model_path}"]


def _eval_note(trainer, splits: dict) -> str | None:
    """What the evaluations during training read: often a sample of the validation split (the
    scores at the end read all of it)."""
    s, total = trainer.settings, splits.get("val") or 0
    if not (s.eval_every and total):
        return None
    per_batch = getattr(trainer.task, "eval_batch_size", s.batch_size)
    used = min(total, s.eval_batches * per_batch) if s.eval_batches else total
    if used >= total:
        return f"validation during training: every {s.eval_every} steps, on all {total} validation examples"
    return (f"validation during training: every {s.eval_every} steps, on {used} of the {total} validation "
            f"examples (a sample: --eval_batches); the scores at the end use all {total}")


def _whole_split_line(results: dict, splits: dict, what: str = "examples") -> str | None:
    """The saved weights' scores on the whole validation (and test) split, from the task's finish."""
    parts = []
    for split, name in (("val", "validation"), ("test", "test")):
        figures = ([f"accuracy {results[f'{split}_accuracy']:.2%}"] if f"{split}_accuracy" in results else []) + \
                  ([f"loss {results[f'{split}_loss']:.4f}"] if f"{split}_loss" in results else [])
        if figures:
            parts.append(f"{name} {', '.join(figures)} on all {splits.get(split, '?')} {what}")
    return ("saved weights: " + "; ".join(parts)) if parts else None


def _base(args):
    if args.base_model and args.gpt2_model_path and args.base_model != args.gpt2_model_path:
        raise PocketLLMError("Give the base model once: --base_model or --gpt2_model_path, not both.",
                             code="cli.base_given_twice")
    return args.base_model or args.gpt2_model_path


def _split(text: str, n: int = 3) -> tuple:
    try:
        parts = tuple(float(x) for x in text.replace("/", ",").split(","))
    except ValueError:
        parts = ()
    if len(parts) != n:
        raise PocketLLMError("--split takes {n} fractions for train,val,test, e.g. 0.7,0.1,0.2 (got {text}).",
                             code="cli.bad_split", n=n, text=repr(text))
    total = sum(parts)
    return tuple(p / total for p in parts) if total > 0 else parts


def _train(trainer, quiet: bool) -> dict:
    from ..training.distributed import shutdown
    from ._progress import ctrl_c_stops, follow
    try:
        with ctrl_c_stops(trainer.stop_event):
            end = follow(trainer.run(), quiet=quiet, silent=not trainer.dist.is_main)
    finally:
        shutdown()
    return end


def _run_summary(trainer) -> dict:
    import json
    return json.loads((trainer.run_dir / "run.json").read_text(encoding="utf-8"))


# ---- classify-train ----------------------------------------------------------------

def register(sub):
    p = sub.add_parser(
        "classify-train", help="finetune a classifier (spam / not spam, or any labels) on a CSV/TSV table",
        description="Give a language model a classification head and train it on a table of labelled "
                    "texts (CSV or TSV, with or without a header; the text and label columns are "
                    "detected). Prints the test accuracy and the confusion matrix at the end.")
    _add_base_args(p, "CSV/TSV of label and text (default: the bundled data/classify/spam.csv)")
    p.add_argument("--text_column", default=None, help="text column: header name or 0-based index (default: detected)")
    p.add_argument("--label_column", default=None, help="label column: header name or 0-based index (default: detected)")
    p.add_argument("--delimiter", default=None, help="column separator (default: detected; 'tab' for TSV)")
    p.add_argument("--header", choices=["auto", "yes", "no"], default="auto", help="does row 1 name the columns?")
    p.add_argument("--balance", action="store_true", help="undersample every class to the size of the smallest")
    p.add_argument("--split", default="0.7,0.1,0.2", help="train,val,test fractions, stratified (default 0.7,0.1,0.2)")
    p.add_argument("--trainable", default=None,
                   help="what trains: head, last:N (or N), all, lora (default: all for a model of up to "
                        "50M parameters, last:1 for a larger one; lora when --lora_rank is given)")
    p.add_argument("--max_length", type=int, default=None,
                   help="tokens kept per message (default: about 600 characters' worth in the base's tokenizer, "
                        "at least 128 tokens, at most the context)")
    p.add_argument("--new_tokens", type=int, default=None,
                   help=f"add this many words of the training messages to a bpe base's vocabulary (0 = never; "
                        f"default: {NEW_TOKENS} when the base spells the messages in {GROW_WHEN:g}x the tokens they "
                        f"need, as a tokenizer learnt on Chinese does English)")
    add_train_args(p, ClassifySettings().train, best=True)
    p.set_defaults(run=run_classify_train)

    p = sub.add_parser("classify", help="classify messages with a finetuned classifier",
                       description="Print the label of each message (and the probability of every class). "
                                   "Without --text: an interactive loop.")
    p.add_argument("--model_path", required=True, help="classifier checkpoint (or the seed's .pth)")
    p.add_argument("--config", default=None, help="model config; only needed for the seed's .pth files")
    p.add_argument("--text", action="append", default=None, help="a message to classify (repeatable)")
    p.add_argument("--probs", action="store_true", help="also print every class's probability in the loop")
    p.set_defaults(run=run_classify)

    p = sub.add_parser(
        "instruct-train", help="finetune a model to follow instructions (Alpaca-style JSON/JSONL)",
        description="Train a language model on instruction records {instruction, input, output}. "
                    "Afterwards it answers the held-out test prompts; the answers are saved next to "
                    "the checkpoint and scored by exact match.")
    _add_base_args(p, "JSON list or JSON Lines of records (default: the bundled data/instruct/tasks.json)")
    p.add_argument("--template", default=None, choices=list(TEMPLATES),
                   help="prompt template (default: alpaca, or the base's own: chatml / qwen3 for an imported Qwen)")
    mask = InstructSettings().mask_prompt
    p.add_argument("--mask_prompt", action=argparse.BooleanOptionalAction, default=mask,
                   help=f"learn only the responses (prompt targets = -100); --no-mask_prompt learns the prompts "
                        f"too (default: {'masked' if mask else 'not masked'})")
    p.add_argument("--max_length", "--allowed_max_length", dest="max_length", type=int, default=None,
                   help="tokens kept per example (default: the context)")
    p.add_argument("--split", default="0.85,0.05,0.1", help="train,val,test fractions by distinct prompt")
    p.add_argument("--test_generate", type=int, default=100,
                   help="answer this many test prompts at the end (default 100; 0 = none)")
    p.add_argument("--sample_every", type=int, default=InstructSettings().train.sample_every,
                   help="answer a val prompt every N steps (0 = never)")
    add_train_args(p, InstructSettings().train, best=True)
    p.set_defaults(run=run_instruct_train)

    p = sub.add_parser("instruct", help="give an instruction to an instruction-finetuned model",
                       description="Answer one instruction (--instruction, --input) or run the interactive "
                                   "loop. Greedy by default; the sampling flags of `generate` work too.")
    p.add_argument("--model_path", required=True, help="instruction-finetuned checkpoint (or a seed .pth)")
    p.add_argument("--config", default=None, help="model config; only needed for the seed's .pth files")
    p.add_argument("--instruction", default=None, help="what to do; omit for the interactive loop")
    p.add_argument("--input", default="", help="the input the instruction works on (optional)")
    p.add_argument("--template", default=None, choices=list(TEMPLATES),
                   help="prompt template (default: the one stored in the checkpoint; an imported Qwen's own chat "
                        "format, Qwen3's with thinking off)")
    p.add_argument("--chat", action="store_true",
                   help="a conversation (用户: / 模型:): each turn in the model's template, with the earlier "
                        "turns that fit the context")
    add_sampling_args(p)
    from ..tasks.instruction import ANSWER_TOKENS
    p.set_defaults(run=run_instruct, max_new_tokens=ANSWER_TOKENS)


def run_classify_train(args):
    from ..tasks.classification import DEFAULT_TABLE, prepare_classification
    if args.lora_rank and args.trainable not in (None, "lora"):
        raise PocketLLMError("--lora_rank trains LoRA adapters, but --trainable says {trainable}; "
                             "drop one of them.", code="cli.lora_and_trainable", trainable=repr(args.trainable))
    trainable = args.trainable or ("lora" if args.lora_rank else None)
    delimiter = {"tab": "\t", "\\t": "\t", "comma": ","}.get(args.delimiter, args.delimiter)
    settings = ClassifySettings(
        data_path=args.data_path or str(DEFAULT_TABLE), text_column=args.text_column,
        label_column=args.label_column, delimiter=delimiter,
        header={"auto": None, "yes": True, "no": False}[args.header], balance=args.balance,
        split=_split(args.split), base_model=_base(args), config=args.config, trainable=trainable,
        lora_rank=args.lora_rank or 8, lora_alpha=args.lora_alpha, keep_adapters=not args.no_adapter_file,
        max_length=args.max_length, new_tokens=args.new_tokens, model_path=args.model_path, run_dir=args.run_dir,
        overwrite=args.overwrite, train=train_settings_from_args(args, sample_every=0))
    trainer = prepare_classification(settings, stop_event=threading.Event())
    main = trainer.dist.is_main
    if main:
        info = _run_summary(trainer)
        data = info["data"]
        print(f"data: {data['source']} — {data['examples']} examples (text column {data['text_column']!r}, "
              f"label column {data['label_column']!r}, {data['delimiter']}-separated"
              f"{', header' if data['header'] else ', no header'})")
        print("classes: " + ", ".join(f"{k} {v}" for k, v in data["balance_before"].items())
              + (f" → balanced to {min(data['balance'].values())} each" if data["balanced"] else ""))
        if data["dropped"]:
            print("dropped rows: " + ", ".join(f"{n} {why}" for why, n in data["dropped"].items()))
        words = data.get("new_tokens") or {}
        if words.get("added"):
            before, after = words["tokens_per_char"]
            print(f"vocabulary: {words['added']:,} words of the training messages added to the base's tokenizer "
                  f"({before:.2f} → {after:.2f} tokens a character)")
        print("split: " + ", ".join(f"{k} {v}" for k, v in data["splits"].items())
              + f"; messages cut to {data['max_length']} tokens: {data['truncated']}")
        print(f"trainable: {info['trainable']} ({info['trainable_parameters']:,} of "
              f"{info['parameters']:,} parameters)")
        splits = data["splits"]
        note = _eval_note(trainer, splits)
        if note:
            print(note)
    end = _train(trainer, args.quiet)
    if main:
        results = end.get("results") or {}
        scores = _whole_split_line({k: v for k, v in results.items() if k.startswith("val_")}, splits, "messages")
        if scores:
            print(scores)
        if "test" in results:
            print(format_report(results["test"]))
        print("\n".join(_end_lines(end, trainer.model_path)))
        if results.get("adapters_path"):
            print(f"LoRA adapters also saved apart: {results['adapters_path']}")
        print(f"try: python -m pocketllm classify --model_path {trainer.model_path} --text \"...\"")
    return 0 if end.get("kind") in ("finished", "stopped") else 1


def format_report(report: dict) -> str:
    labels = report["confusion_matrix"]["labels"]
    matrix = report["confusion_matrix"]["rows_true_cols_predicted"]
    w = max(8, *(len(x) for x in labels)) + 2
    lines = [f"test accuracy: {report['accuracy']:.2%} on {report['examples']} messages",
             f"{'class':<{w}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for name, m in report["per_class"].items():
        lines.append(f"{name:<{w}}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>9}")
    lines.append("confusion matrix (rows: true label, columns: predicted):")
    lines.append(" " * w + "".join(f"{x:>{w}}" for x in labels))
    for name, row in zip(labels, matrix):
        lines.append(f"{name:<{w}}" + "".join(f"{v:>{w}}" for v in row))
    return "\n".join(lines)


def run_classify(args):
    from ..checkpoint import load_model
    from ..tasks.classification import classify
    ckpt = load_model(args.model_path, config=args.config)
    if ckpt.task_type is not TaskKind.CLASSIFY:
        raise PocketLLMError("{path} is a {kind}, not a classifier; train one with "
                             "`python -m pocketllm classify-train`.", code="cli.not_a_classifier",
                             path=args.model_path, kind=ckpt.task_type)
    labels = ckpt.task["labels"]

    def show(result, probs):
        line = result["label"]
        if probs:
            line += "  (" + ", ".join(f"{k} {v:.3f}" for k, v in result["probs"].items()) + ")"
        return line

    if args.text:
        for text, result in zip(args.text, classify(ckpt, args.text, labels)):
            print(f"{show(result, True)}\t{text}" if len(args.text) > 1 else show(result, True))
        return 0
    print("Type a message and press Enter (Ctrl-D or an empty line to quit).")
    while True:
        try:
            text = input("用户: ")
        except EOFError:
            break
        if not text.strip():
            break
        print("模型: " + show(classify(ckpt, text, labels), args.probs))
    return 0


# ---- instructions --------------------------------------------------------------------

def run_instruct_train(args):
    from ..tasks.instruction import DEFAULT_INSTRUCTIONS, prepare_instruction
    settings = InstructSettings(
        data_path=args.data_path or str(DEFAULT_INSTRUCTIONS), template=args.template,
        mask_prompt=args.mask_prompt, max_length=args.max_length, split=_split(args.split),
        test_generate=args.test_generate, base_model=_base(args), config=args.config,
        lora_rank=args.lora_rank or 0, lora_alpha=args.lora_alpha, keep_adapters=not args.no_adapter_file,
        model_path=args.model_path, run_dir=args.run_dir, overwrite=args.overwrite,
        train=train_settings_from_args(args))
    trainer = prepare_instruction(settings, stop_event=threading.Event())
    main = trainer.dist.is_main
    if main:
        info = _run_summary(trainer)
        data = info["data"]
        print(f"data: {data['source']} — {data['valid']} records ({data['distinct_prompts']} distinct prompts); "
              f"split: " + ", ".join(f"{k} {v}" for k, v in data["splits"].items()))
        if data.get("no_answer") and settings.mask_prompt:
            print(f"warning: {data['no_answer']} of {data['splits']['train']} training prompt(s) fill the "
                  f"{data['max_length']} tokens the model reads: no answer of theirs is learned (a shorter template, "
                  f"or a base with a longer context)", file=sys.stderr)
        if data["invalid"]:
            print(f"warning: {data['invalid']} record(s) skipped:", file=sys.stderr)
            for problem in data["problems"][:10]:
                print(f"  {problem}", file=sys.stderr)
        t = info["template_text"]
        shown = (t["head"] + t["input"] + t["response"]).replace("\n", "⏎\n    ")
        print(f"prompt template ({t['name']}{', prompt masked from the loss' if settings.mask_prompt else ''}):\n"
              f"    {shown}{{output}}<|endoftext|>")
        if data["truncated"]:
            print(f"{data['truncated']} example(s) longer than {data['max_length']} tokens are cut")
        print(f"trainable: {info['trainable']} ({info['trainable_parameters']:,} of {info['parameters']:,} parameters)")
        splits = data["splits"]
        note = _eval_note(trainer, splits)
        if note:
            print(note)
    end = _train(trainer, args.quiet)
    if main:
        r = end.get("results") or {}
        scores = _whole_split_line(r, splits)
        if scores:
            print(scores)
        if "exact_match" in r:
            print(f"exact match on {r['test_generated']} test prompts: {r['exact_match']:.1%} "
                  f"(answers in {r.get('responses_path')})")
        print("\n".join(_end_lines(end, trainer.model_path)))
        print(f"try: python -m pocketllm instruct --model_path {trainer.model_path}")
    return 0 if end.get("kind") in ("finished", "stopped") else 1


def _chat_loop(ckpt, template, sampling, max_new_tokens) -> int:
    from ..chat import chat
    print("Chat with the model (Ctrl-D or an empty line quits).")
    history: list[tuple[str, str]] = []
    while True:
        try:
            message = input("用户: ")
        except EOFError:
            break
        if not message.strip():
            break
        prompt, pieces = chat(ckpt, history, message, sampling, max_new_tokens, template)
        if prompt.dropped_turns:
            print(f"(the {prompt.dropped_turns} oldest turn(s) no longer fit the context and are left out)")
        sys.stdout.write("模型: ")
        answer = ""
        for piece in pieces:
            answer += piece
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        history.append((message, answer))
    return 0


def run_instruct(args):
    from ..checkpoint import load_model
    from ..data.instructions import get_template
    from ..tasks.instruction import respond, template_of
    ckpt = load_model(args.model_path, config=args.config)
    if ckpt.task_type is TaskKind.CLASSIFY:
        raise PocketLLMError("{path} is a classifier; use `python -m pocketllm classify`.",
                             code="cli.is_a_classifier", path=args.model_path)
    template = get_template(args.template) if args.template else template_of(ckpt.task, ckpt.tokenizer)
    sampling = sampling_from_args(args)

    def answer(instruction, inp):
        for piece in respond(ckpt, instruction, inp, template, sampling, args.max_new_tokens):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")

    if args.instruction is not None:
        answer(args.instruction, args.input)
        return 0
    if args.chat:
        return _chat_loop(ckpt, template, sampling, args.max_new_tokens)
    print("Type an instruction, then its input (may be empty). Ctrl-D or an empty instruction quits.")
    while True:
        try:
            instruction = input("任务指令: ")
            if not instruction.strip():
                break
            inp = input("任务输入: ")
        except EOFError:
            break
        sys.stdout.write("模型: ")
        answer(instruction, inp)
        print()
    return 0
