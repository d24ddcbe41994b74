"""Task: follow instructions — finetune a language model on (instruction, input, output) records.

The loss is next-token prediction on the formatted examples (see
pocketllm/data/instructions.py for the template and the -100 masks).  After
training the model answers the held-out test prompts (greedy); the answers are
saved next to the checkpoint and scored by exact match.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import torch

from ..data.instructions import (IGNORE, Example, PromptTemplate, Record, collate, encode_record,
                                 DEFAULT_TEMPLATE, get_template, load_instructions, split_records)
from ..errors import PocketLLMError
from ..files import atomic_write
from ..generation import MAX_STOPS, Sampling, generate, stream
from ..kinds import TaskKind, task_kind
from ..model import GPTModel
from ..tokenizer import Tokenizer, gpt2_tokenizer
from ..training.head_loss import linear_cross_entropy
from ..training.trainer import Trainer, TrainSettings
from .lora import adapters_path_for, apply_lora, count_trainable, finish_adapters
from .run_setup import (ROOT, FinetuneSettings, TaskRun, base_facts, checked_max_length, load_base,
                        start_run)

DEFAULT_INSTRUCTIONS = ROOT / "data" / "instruct" / "tasks.json"


def instruct_task(template: PromptTemplate) -> dict:
    return {"type": TaskKind.INSTRUCT.value, "template": template.to_dict()}


def template_of(task: dict | None, tokenizer=None) -> PromptTemplate:
    """The prompt template a checkpoint was trained with; for a plain language model, its own chat
    format when its tokenizer came with one we know (an imported Qwen: ChatML, Qwen3's with thinking
    off), else Alpaca's."""
    if task and task_kind(task.get("type")) is TaskKind.INSTRUCT and task.get("template"):
        return PromptTemplate.from_dict(task["template"])
    own = getattr(tokenizer, "chat_template", None)  # an imported tokenizer's (text, never run)
    if isinstance(own, str) and "<|im_start|>" in own:
        return get_template("qwen3" if "<think>" in own else "chatml")
    return get_template(DEFAULT_TEMPLATE)


def exact_match(generated: str, expected: str) -> bool:
    return generated.strip() == expected.strip()


def masked_next_token_loss(gpt: GPTModel, inputs, targets) -> tuple[torch.Tensor, int]:
    """Mean loss over the targets that are not -100, and their count.

    Only those rows go through the vocabulary-wide head (fused with the loss), so
    padding and — with mask_prompt — the prompt cost nothing there.
    """
    hidden = gpt.features(inputs)
    keep = targets != IGNORE
    count = int(keep.sum())
    if count == 0:  # nothing to learn in this batch: a zero that still has a graph
        return hidden.sum() * 0.0, 0
    return linear_cross_entropy(hidden[keep], gpt.out_head.weight, targets[keep]), count



def write_test_responses(path, answers: list[dict]) -> Path:
    """The held-out answers of a run (instruction, input, expected, generated, match), beside its model."""
    text = json.dumps(answers, indent=1, ensure_ascii=False)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_test_responses(path) -> list[dict]:
    """What `write_test_responses` wrote; [] when the file is missing or unreadable (a run that
    ended before its test answers)."""
    try:
        answers = json.loads(Path(path).read_text(encoding="utf-8")) if path else []
    except (OSError, ValueError):
        return []
    return [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []

class MaskedNextTokenLoss(torch.nn.Module):
    """The GPT as the training loop sees it: forward(inputs, targets) → loss (DDP wraps this)."""

    def __init__(self, gpt: GPTModel):
        super().__init__()
        self.gpt = gpt

    def forward(self, inputs, targets):
        return masked_next_token_loss(self.gpt, inputs, targets)[0]


class InstructionTask:
    name = TaskKind.INSTRUCT

    def __init__(self, splits: dict[str, list[Record]], template: PromptTemplate, max_length: int,
                 mask_prompt: bool = False, eval_batch_size: int = 8, test_generate: int = 100,
                 responses_path=None, adapters_path=None, base: str | None = None, extra: dict | None = None,
                 tokenizer: Tokenizer | None = None):
        tok = self.tokenizer = tokenizer or gpt2_tokenizer()  # the base model's, kept by the finetuned one
        self.records = splits
        self.examples = {k: [encode_record(r, template, tok) for r in v] for k, v in splits.items()}
        self.template = template
        self.max_length = max_length
        self.mask_prompt = mask_prompt
        self.eval_batch_size = eval_batch_size
        self.test_generate = test_generate
        self.responses_path = Path(responses_path) if responses_path else None
        self.adapters_path = Path(adapters_path) if adapters_path else None
        self.base = base
        self.extra = extra or {}
        longest = max((len(e.output_ids) for e in self.examples["train"]), default=32)
        self.answer_tokens = min(256, longest + 8)  # room for the longest training answer

    def _batch(self, examples: list[Example], device) -> dict:
        batch = collate(examples, self.max_length, self.mask_prompt)
        return {k: v.to(device) for k, v in batch.items()}

    def num_train_examples(self) -> int:
        return len(self.examples["train"])

    def make_batch(self, indices, device) -> dict:
        return self._batch([self.examples["train"][i] for i in indices], device)

    def batch_tokens(self, batch) -> int:
        return int((batch["targets"] != IGNORE).sum())

    def train_module(self, model):
        return MaskedNextTokenLoss(model)

    def loss(self, model, batch):
        if isinstance(model, GPTModel):
            return masked_next_token_loss(model, batch["inputs"], batch["targets"])[0], {}
        return model(batch["inputs"], batch["targets"]), {}  # MaskedNextTokenLoss, maybe in DDP/compile

    def evaluate(self, model, split: str, max_batches: int, device) -> dict:
        examples = self.examples.get(split) or []
        if not examples:
            return {}
        n = min(len(examples), max_batches * self.eval_batch_size) if max_batches else len(examples)
        total, count = 0.0, 0
        for start in range(0, n, self.eval_batch_size):
            batch = self._batch(examples[start:min(n, start + self.eval_batch_size)], device)
            mean, k = masked_next_token_loss(model, batch["inputs"], batch["targets"])
            total += mean.item() * k
            count += k
        return {"loss": total / max(1, count)}

    def sample(self, model):
        pool = self.records.get("val") or self.records["train"]
        r = pool[0]
        prompt = self.template.prompt(r.instruction, r.input)
        return prompt, generate(model, prompt, self.answer_tokens, answer_sampling(Sampling(), self.template),
                                tokenizer=self.tokenizer, visible_start=True)

    def checkpoint_task(self) -> dict:
        return instruct_task(self.template)

    @torch.no_grad()
    def finish(self, model, device) -> dict:
        was_training = model.training
        model.eval()
        results = dict(self.extra)
        if self.adapters_path is not None:
            results.update(finish_adapters(self.adapters_path, model, self.base, self.checkpoint_task()))
        for split in ("val", "test"):
            scores = self.evaluate(model, split, 0, device)
            if scores:
                results[f"{split}_loss"] = scores["loss"]
        test = self.records.get("test") or []
        if test and self.test_generate:
            answers = answer_records(model, test, self.template, self.test_generate, self.answer_tokens,
                                     tokenizer=self.tokenizer)
            results.update(score_answers(answers))
            if self.responses_path is not None:
                write_test_responses(self.responses_path, answers)
                results["responses_path"] = str(self.responses_path)
        model.train(was_training)
        return results


def template_markers(template: PromptTemplate) -> tuple[str, ...]:
    """The lines the template writes around a message ("### Instruction:", "### Response:"):
    an answer ends where the model starts writing one of them."""
    lines = (line.strip() for part in (template.head, template.input, template.response)
             for line in part.splitlines())
    return tuple(dict.fromkeys(line for line in lines if line and "{" not in line and len(line) <= 200))


def answer_sampling(sampling: Sampling, template: PromptTemplate) -> Sampling:
    """`sampling` with the template's markers first among its stop strings (as many as fit)."""
    stops = tuple(dict.fromkeys((*template_markers(template), *sampling.stop)))[:MAX_STOPS]
    return replace(sampling, stop=stops)


def answer_records(model, records: list[Record], template: PromptTemplate, limit: int = 100,
                   max_new_tokens: int = 64, tokenizer: Tokenizer | None = None) -> list[dict]:
    """Greedy answers to the first `limit` distinct prompts of `records`."""
    seen, out = set(), []
    for r in records:
        if r.key in seen:
            continue
        seen.add(r.key)
        text = generate(model, template.prompt(r.instruction, r.input), max_new_tokens,
                        answer_sampling(Sampling(), template), tokenizer=tokenizer, visible_start=True)
        out.append({"instruction": r.instruction, "input": r.input, "expected": r.output,
                    "generated": text, "correct": exact_match(text, r.output)})
        if len(out) >= limit:
            break
    return out


def score_answers(answers: list[dict]) -> dict:
    n = len(answers)
    by_instruction: dict[str, list[bool]] = {}
    for a in answers:
        by_instruction.setdefault(a["instruction"], []).append(a["correct"])
    return {"test_generated": n, "exact_match": sum(a["correct"] for a in answers) / max(1, n),
            "exact_match_by_instruction": {k: sum(v) / len(v) for k, v in sorted(by_instruction.items())}}


# An answer's length when nobody says: room for two short turns beside it in a 128-token context
# (the page's and the CLI's default too).
ANSWER_TOKENS = 60


def respond(model, instruction: str, input: str = "", template: PromptTemplate | dict | str | None = None,
            sampling: Sampling = Sampling(), max_new_tokens: int = ANSWER_TOKENS,
            tokenizer: Tokenizer | None = None) -> Iterator[str]:
    """Stream the model's answer to an instruction (greedy unless `sampling` says otherwise).

    `model` is a Checkpoint (it knows its tokenizer and template) or a model with `tokenizer=`."""
    if not instruction or not instruction.strip():
        raise PocketLLMError("The instruction is empty; type what the model should do.",
                             code="instruct.empty_instruction")
    if template is None:
        template = get_template(DEFAULT_TEMPLATE)
    elif not isinstance(template, PromptTemplate):
        template = PromptTemplate.from_dict(template)
    return stream(model, template.prompt(instruction, input or ""), max_new_tokens,
                  answer_sampling(sampling, template), tokenizer, visible_start=True)


# ---- preparing a run ------------------------------------------------------------------

@dataclass
class InstructSettings(FinetuneSettings):
    data_path: str = str(DEFAULT_INSTRUCTIONS)
    lora_rank: int = 0                   # 0 = train every weight; > 0 = LoRA adapters only
    # One epoch at 1e-3: from a briefly pretrained cpu-small base every held-out answer takes the
    # data's form (numbers, capitals, one character) in about a minute of CPU time.
    train: TrainSettings = field(default_factory=lambda: TrainSettings(
        epochs=1, batch_size=8, lr=1e-3, eval_every=50, eval_batches=5, sample_every=50,
        keep_best=True, patience=3))
    template: str | None = None          # alpaca (default) or short; default: the base's own, if any
    # Learn only the responses.  Unmasked, the loss is mostly the template's ~100 prompt tokens: from the
    # page's default base (cpu-small on the Chinese classics, whose bpe spells English letter by letter)
    # every held-out answer came out empty (exact match 0 %); masked, none is empty (7 %, 2026-12-05).
    mask_prompt: bool = True
    split: tuple = (0.85, 0.05, 0.1)     # train / val / test, by distinct prompt
    test_generate: int = 100             # answer this many test prompts at the end (0 = none)


def prepare_instruction(settings: InstructSettings, stop_event=None) -> Trainer:
    """Records, base model, template, what trains, run folder.  Returns the Trainer."""
    return start_run(TaskKind.INSTRUCT, settings, lambda model_path: _instruction_run(settings, model_path), stop_event)


def _instruction_run(settings: InstructSettings, model_path: Path) -> TaskRun:
    data = load_instructions(settings.data_path)
    torch.manual_seed(settings.train.seed)
    base = load_base(settings.base_model, settings.config)
    model, base_task, tokenizer = base.model, base.task, base.tokenizer
    if task_kind(base_task.get("type")) is TaskKind.CLASSIFY:
        raise PocketLLMError("{base} is a classifier (labels {labels}); instruction finetuning needs a "
                             "language model.", code="instruct.base_is_classifier",
                             base=settings.base_model, labels=base_task.get("labels"))
    template = get_template(settings.template) if settings.template else template_of(base_task, tokenizer)
    max_length = checked_max_length(settings, base.config.context_length, least=2)

    lora = settings.lora_rank > 0
    if lora:
        apply_lora(model, settings.lora_rank, settings.lora_alpha, keep_trainable=())
    trainable, total = count_trainable(model)
    parts = dict(zip(("train", "val", "test"), split_records(data.records, settings.split, settings.train.seed)))
    if not parts["train"]:
        raise PocketLLMError("The training split is empty; use more records or a larger train fraction.",
                             code="instruct.empty_train_split")
    responses = model_path.with_name(model_path.stem + ".test_responses.json")
    adapters = adapters_path_for(model_path) if lora and settings.keep_adapters else None
    extra = {"trainable": "lora" if lora else "all", "trainable_parameters": trainable, "parameters": total,
             "template": template.name}
    task = InstructionTask(parts, template, max_length, settings.mask_prompt,
                           eval_batch_size=max(8, settings.train.batch_size),
                           test_generate=settings.test_generate, responses_path=responses,
                           adapters_path=adapters, base=settings.base_model, extra=extra, tokenizer=tokenizer)
    lengths = [len(e.prompt_ids) + len(e.output_ids) + 1 for e in task.examples["train"]]
    # An example whose prompt alone fills what the model reads has no answer left to learn from (its
    # first answer token is predicted at position len(prompt) - 1).
    no_answer = sum(len(e.prompt_ids) > max_length for e in task.examples["train"])
    if settings.mask_prompt and no_answer == len(task.examples["train"]):
        shortest = min(len(e.prompt_ids) for e in task.examples["train"])
        raise PocketLLMError(
            "Every training prompt is longer than the {max_length} tokens the model reads ({shortest} tokens at the "
            "shortest, in the {template} template and this model's tokenizer), so no answer is left to learn. Use "
            "a shorter template (the short one, if this is not it), a base with a longer context, or shorter "
            "instructions.",
            code="instruct.prompts_fill_context", max_length=max_length, shortest=shortest, template=template.name)
    summary = {**data.summary(), "splits": {k: len(v) for k, v in parts.items()}, "max_length": max_length,
               "truncated": sum(n - 1 > max_length for n in lengths), "longest": max(lengths),
               "no_answer": no_answer}
    return TaskRun(model, task, base.config,
                   record={"data": summary, "template_text": template.to_dict(), **extra},
                   facts={**base_facts(settings, extra["trainable"]),
                          "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
