"""Instruction records → prompts → training batches.

Records are Alpaca-style: `{"instruction": str, "input": str (optional), "output": str}`,
in a JSON file (a list of records) or JSON Lines (one record per line).  Every
record is checked; bad ones are reported by index and reason.

A prompt template turns a record into the text the model sees.  The Alpaca one:

    Below is an instruction that describes a task. Write a response that appropriately completes the request.

    ### Instruction:
    {instruction}

    ### Input:            <- only when the input is not empty
    {input}

    ### Response:
    {output}<|endoftext|>

Batches (`collate`): each example is prompt + output + <|endoftext|>; the
targets are the inputs shifted by one.  Pad to the longest example of the batch
with <|endoftext|>; the end token after the response stays a target (so the
model learns to stop), the padding after it gets -100 (ignored by the loss).
With `mask_prompt`, the prompt's tokens get -100 too, so only the response is learned.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import Phrase, PhraseList, PocketLLMError, shown
from ..files import JSON_DEPTH_LIMIT, json_depth
from ..tokenizer import EOT_ID, EOT_TEXT  # GPT-2's, for examples built by hand
from .tables import check_fractions
from .text import read_text

IGNORE = -100  # cross_entropy's ignore_index


# A template's parts are plain text with named slots; `{{` and `}}` are a literal brace (as
# the str.format templates of older checkpoints wrote them, so they read the same).
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}]")
_SLOTS = {"head": "instruction", "input": "input", "response": None}  # the slot each part may hold
_TURN_PARTS = ("end", "past_response")  # optional, no slot
MAX_TEMPLATE_CHARS = 20_000  # per part; far longer than any model's context reads


@dataclass(frozen=True)
class PromptTemplate:
    """Literal text with named slots, parsed here (never by str.format): no format spec,
    conversion, nesting, attribute or index, so a template from a file is data, not code.
    Each slot at most once, so a prompt is at most the template plus its values."""
    name: str
    head: str      # with {instruction}
    input: str     # with {input}; used only when the input is not empty
    response: str  # what comes right before the answer
    # In a conversation: what closes an earlier answer, and the response part of earlier turns when it
    # differs (a chat model's own format: ChatML closes a turn with <|im_end|>; Qwen3 leaves its empty
    # thinking block out of earlier turns).  Plain text, no slot.
    end: str = EOT_TEXT
    past_response: str | None = None
    _pieces: dict = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        pieces = {part: _template_pieces(part, getattr(self, part), slot) for part, slot in _SLOTS.items()}
        for part in _TURN_PARTS:  # checked the same way: text of bounded length, no slot
            if getattr(self, part) is not None:
                pieces[part] = _template_pieces(part, getattr(self, part), None)
        object.__setattr__(self, "_pieces", pieces)

    def prompt(self, instruction: str, input: str = "", past: bool = False) -> str:
        """The prompt for a message; `past`: as an earlier turn of a conversation (before its answer)."""
        text = self._fill("head", instruction)
        if input and input.strip():
            text += self._fill("input", input)
        return text + self._fill("past_response" if past and self.past_response is not None else "response", "")

    def turn(self, instruction: str, answer: str) -> str:
        """An earlier turn of a conversation: its prompt, the answer, and the end of the turn."""
        return self.prompt(instruction, past=True) + answer + self._fill("end", "")

    def _fill(self, part: str, value: str) -> str:
        return "".join(value if piece is None else piece for piece in self._pieces[part])

    def to_dict(self) -> dict:
        out = {"name": self.name, "head": self.head, "input": self.input, "response": self.response}
        if self.end != EOT_TEXT:  # (older checkpoints have neither: they read as the defaults)
            out["end"] = self.end
        if self.past_response is not None:
            out["past_response"] = self.past_response
        return out

    @classmethod
    def from_dict(cls, data) -> "PromptTemplate":
        if isinstance(data, str):
            return get_template(data)
        try:
            parts = {part: data[part] for part in _SLOTS}
            name = data.get("name", "custom")
        except (KeyError, AttributeError, TypeError):
            raise PocketLLMError("Damaged prompt template in the checkpoint: {data}.", code="template.damaged",
                                 data=_short(data)) from None
        name = name[:100] if isinstance(name, str) else "custom"
        turn = {part: data[part] for part in _TURN_PARTS if part in data}
        return cls(name, parts["head"], parts["input"], parts["response"], **turn)  # checked as they are parsed


def _template_pieces(part: str, text: str, slot: str | None) -> tuple:
    """The part as (literal text | None where the value goes, ...), or a PocketLLMError that says what is wrong."""
    if not isinstance(text, str):
        raise PocketLLMError("Damaged prompt template in the checkpoint: its {part} is a {kind}, not text.",
                             code="template.not_text", part=part, kind=type(text).__name__)
    if len(text) > MAX_TEMPLATE_CHARS:
        raise PocketLLMError("Damaged prompt template in the checkpoint: its {part} is {length:,} characters; at "
                             "most {limit:,}.", code="template.too_long", part=part, length=len(text),
                             limit=MAX_TEMPLATE_CHARS)
    pieces, start, slots = [], 0, 0
    for match in _TEMPLATE_TOKEN.finditer(text):
        pieces.append(text[start:match.start()])
        start, token = match.end(), match.group()
        if token in ("{{", "}}"):
            pieces.append(token[0])
        elif token in ("{", "}"):
            raise PocketLLMError("Damaged prompt template in the checkpoint: its {part} has a brace {brace!r} at "
                                 "character {position} that is not part of a slot (slots do not nest; write {{{{ "
                                 "or }}}} for a brace of the text).",
                                 code="template.lone_brace", part=part, brace=token, position=match.start())
        elif slot is not None and token == "{" + slot + "}" and slots == 0:
            pieces.append(None)
            slots += 1
        elif slot is None:
            raise PocketLLMError("Damaged prompt template in the checkpoint: its {part} holds {found}, but it may "
                                 "hold no slot (a template is plain text; write {{{{ or }}}} for a brace).",
                                 code="template.slot_not_allowed", part=part, found=shown(token))
        else:
            raise PocketLLMError("Damaged prompt template in the checkpoint: its {part} holds {found}, but it may "
                                 "only hold {slot}, once (a template is plain text with named slots: no format "
                                 "specs, conversions or fields of fields; write {{{{ or }}}} for a brace).",
                                 code="template.bad_slot", part=part, found=shown(token),
                                 slot="{" + slot + "}")
    pieces.append(text[start:])
    return tuple(p for p in pieces if p != "")


def _short(data) -> str:
    """A damaged template's value for a message, cut short (and safe however deep it nests)."""
    try:
        return shown(data, 200)
    except RecursionError:
        return f"a {type(data).__name__} nested too deep to show"


TEMPLATES = {
    "alpaca": PromptTemplate(
        "alpaca",
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n{instruction}",
        "\n\n### Input:\n{input}",
        "\n\n### Response:\n"),
    # Without the preamble: ~25 tokens shorter, which matters for a 128-token model.
    "short": PromptTemplate("short", "### Instruction:\n{instruction}", "\n### Input:\n{input}",
                            "\n### Response:\n"),
    # The chat format of Qwen (ChatML), for imported models whose tokenizer has <|im_start|> / <|im_end|>.
    "chatml": PromptTemplate("chatml", "<|im_start|>user\n{instruction}", "\n\n{input}",
                             "<|im_end|>\n<|im_start|>assistant\n", end="<|im_end|>\n"),
    # Qwen3's, with its thinking switched off: the answer follows an empty <think> block (what its
    # template writes for enable_thinking=False); earlier turns keep only their answers.
    "qwen3": PromptTemplate("qwen3", "<|im_start|>user\n{instruction}", "\n\n{input}",
                            "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", end="<|im_end|>\n",
                            past_response="<|im_end|>\n<|im_start|>assistant\n"),
}


DEFAULT_TEMPLATE = "alpaca"  # a fresh or plain language model's template


def get_template(name: str) -> PromptTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise PocketLLMError("Unknown prompt template {name!r}; choose one of {known}.", code="template.unknown",
                             name=name, known=", ".join(TEMPLATES)) from None


# ---- records -----------------------------------------------------------------------

@dataclass
class Record:
    instruction: str
    input: str
    output: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.instruction.strip(), self.input.strip())


@dataclass
class InstructionData:
    records: list[Record]
    problems: list[Phrase] = field(default_factory=list)  # "record at index 7: no 'output'", ...
    total: int = 0
    source: str = ""

    def summary(self) -> dict:
        return {"source": self.source, "records": self.total, "valid": len(self.records),
                "invalid": len(self.problems), "problems": self.problems[:20],
                "distinct_prompts": len({r.key for r in self.records})}


def check_record(item) -> tuple[Record | None, PhraseList | None]:
    """A Record, or the reasons this item is not one."""
    if not isinstance(item, dict):
        return None, PhraseList([Phrase("is a {kind}, not an object with instruction/output",
                                        code="instructions.not_object", kind=type(item).__name__)])
    inp = "" if item.get("input") is None else item["input"]  # the input is optional
    input_problem = None if isinstance(inp, str) else _not_text("input", inp)
    problems = [p for p in (_text_problem(item, "instruction"), input_problem, _text_problem(item, "output")) if p]
    if problems:
        return None, PhraseList(problems)
    return Record(item["instruction"], inp, item["output"]), None


def _not_text(name: str, value) -> Phrase:
    return Phrase("{field!r} is a {kind}, not text", code="instructions.field_not_text", field=name,
                  kind=type(value).__name__)


def _text_problem(item: dict, name: str) -> Phrase | None:
    """What is wrong with a record's required text field, or None."""
    if name not in item:
        return Phrase("no {field!r}", code="instructions.field_missing", field=name)
    if not isinstance(item[name], str):
        return _not_text(name, item[name])
    return None if item[name].strip() else Phrase("{field!r} is empty", code="instructions.field_empty", field=name)


def skipped(place: Phrase, reasons: PhraseList) -> Phrase:
    """One skipped record: where it is and why."""
    return Phrase("{place}: {reasons}", code="instructions.skipped", place=place, reasons=reasons)


def at_line(n: int) -> Phrase:
    return Phrase("line {n}", code="instructions.at_line", n=n)


def load_instructions(path) -> InstructionData:
    """Read and check a JSON / JSON Lines file of instruction records."""
    path = Path(path)
    if not path.is_file():
        raise PocketLLMError("Data file not found: {path}. Give a JSON or JSON Lines file (--data_path).",
                             code="instructions.not_found", path=str(path))
    text = read_text(path).strip()
    if not text:
        raise PocketLLMError("{name} is empty: it needs a list of instruction records.", code="instructions.empty",
                             name=path.name)
    json_lines = text[0] == "{" or path.suffix.lower() == ".jsonl"
    items, problems = _json_lines(path, text) if json_lines else _json_list(path, text)
    bad_lines = len(problems)  # JSON Lines that did not parse
    records = []
    for n, item in items:
        record, why = check_record(item)
        if record is None:
            place = at_line(n) if json_lines else Phrase("record at index {n}", code="instructions.at_index", n=n)
            problems.append(skipped(place, why))
        else:
            records.append(record)
    if not records:
        if not problems:
            raise PocketLLMError("{name} holds an empty list: it needs instruction records, each with a non-empty "
                                 "'instruction' and 'output' (and optionally 'input').",
                                 code="instructions.empty_list", name=path.name)
        raise PocketLLMError("{name} has no usable instruction records ({problems}). Each record needs a "
                             "non-empty 'instruction' and 'output' (and optionally 'input').",
                             code="instructions.none_usable", name=path.name, problems=PhraseList(problems[:5]))
    return InstructionData(records, problems, len(items) + bad_lines, str(path))


def _json_lines(path: Path, text: str) -> tuple[list, list[str]]:
    """([(line number, item)], [a problem per line that is not JSON])."""
    try:
        whole = json.loads(text) if json_depth(text) <= JSON_DEPTH_LIMIT else None
    except json.JSONDecodeError:
        whole = None  # several lines: JSON Lines
    if isinstance(whole, dict) and "instruction" not in whole:
        _not_a_list(path, whole)
    items, problems = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if json_depth(line) > JSON_DEPTH_LIMIT:  # Python's parser would fail with a RecursionError
            problems.append(skipped(at_line(n), PhraseList([_too_deep()])))
            continue
        try:
            items.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(skipped(at_line(n), PhraseList([Phrase("not valid JSON ({detail})",
                                                                   code="instructions.line_not_json",
                                                                   detail=exc.msg)])))
    return items, problems


def _json_list(path: Path, text: str) -> tuple[list, list[str]]:
    """([(index, item)], []) from a file that is one JSON list."""
    if json_depth(text) > JSON_DEPTH_LIMIT:
        raise PocketLLMError("{name} is not a list of instruction records: {problem}. A record is an object of "
                             "text: {{\"instruction\": ..., \"input\": ..., \"output\": ...}}.",
                             code="instructions.too_deep", name=path.name, problem=_too_deep())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PocketLLMError("{name} is not valid JSON: {detail} at line {line}, column {column}.",
                             code="instructions.bad_json", name=path.name, detail=exc.msg, line=exc.lineno,
                             column=exc.colno) from None
    if not isinstance(data, list):
        _not_a_list(path, data)
    return list(enumerate(data)), []


def _too_deep() -> Phrase:
    return Phrase("its brackets nest more than {limit} levels deep", code="instructions.nested_too_deep",
                  limit=JSON_DEPTH_LIMIT)


def _not_a_list(path: Path, data):
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        raise PocketLLMError("{name} holds an object with a list under {key!r}; the file itself must be the "
                             "list of records: [{{...}}, {{...}}].", code="instructions.wrapped_list",
                             name=path.name, key=next(iter(data)))
    if isinstance(data, dict):
        raise PocketLLMError("{name} must be a list of records like [{{\"instruction\": ..., \"input\": ..., "
                             "\"output\": ...}}, ...] (or JSON Lines, one record per line); it is an object with "
                             "keys {keys}.", code="instructions.not_a_list_object", name=path.name,
                             keys=", ".join(list(data)[:5]))
    raise PocketLLMError("{name} must be a list of records like [{{\"instruction\": ..., \"input\": ..., "
                         "\"output\": ...}}, ...] (or JSON Lines, one record per line); it is a {type}.",
                         code="instructions.not_a_list", name=path.name, type=type(data).__name__)


def split_records(records: list[Record], fractions=(0.85, 0.05, 0.1), seed: int = 123) -> list[list[Record]]:
    """Split by distinct (instruction, input), so no test prompt is also a training prompt."""
    check_fractions(fractions)
    groups: dict[tuple, list[Record]] = {}
    for r in records:
        groups.setdefault(r.key, []).append(r)
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    out, start, acc = [], 0, 0.0
    for k, f in enumerate(fractions):
        acc += f
        end = len(keys) if k == len(fractions) - 1 else round(acc * len(keys))
        out.append([r for key in keys[start:end] for r in groups[key]])
        start = end
    return out


# ---- tokens and batches ------------------------------------------------------------

@dataclass
class Example:
    prompt_ids: list[int]
    output_ids: list[int]
    end_id: int = EOT_ID  # the tokenizer's <|endoftext|>: it closes the answer and pads the batch


def encode_record(record: Record, template: PromptTemplate, tokenizer) -> Example:
    # Encoded apart, so the prompt is exactly what inference will feed the model.
    return Example(tokenizer.encode(template.prompt(record.instruction, record.input)),
                   tokenizer.encode(record.output), tokenizer.eot_id)


def collate(examples: list[Example], max_length: int | None = None, mask_prompt: bool = False,
            pad_id: int | None = None, ignore_index: int = IGNORE) -> dict:
    """{"inputs", "targets"} tensors (batch, longest) for examples; see the module docstring."""
    if pad_id is None:
        pad_id = examples[0].end_id
    rows_in, rows_out = [], []
    for ex in examples:
        seq = ex.prompt_ids + ex.output_ids + [ex.end_id]
        inputs, targets = seq[:-1], seq[1:]
        if mask_prompt:
            # targets[j] is seq[j + 1]; the prompt's tokens are seq[1 .. P-1] → targets[0 .. P-2].
            n = max(0, len(ex.prompt_ids) - 1)
            targets = [ignore_index] * n + targets[n:]
        if max_length is not None:
            inputs, targets = inputs[:max_length], targets[:max_length]
        rows_in.append(inputs)
        rows_out.append(targets)
    longest = max(len(r) for r in rows_in)
    x = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    y = torch.full((len(examples), longest), ignore_index, dtype=torch.long)
    for i, (a, b) in enumerate(zip(rows_in, rows_out)):
        x[i, :len(a)] = torch.tensor(a, dtype=torch.long)
        y[i, :len(b)] = torch.tensor(b, dtype=torch.long)
    return {"inputs": x, "targets": y}
