"""Chat with an instruction model: every turn in the model's own prompt template.

An instruction model learned single exchanges: the template's prompt, the answer,
then `<|endoftext|>`.  A conversation is those exchanges one after another, the new
message last; when they no longer fit the context (with room for the answer), the
oldest turns are dropped and the caller is told how many.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .data.instructions import PromptTemplate, get_template
from .errors import PocketLLMError
from .generation import Sampling, model_and_tokenizer, stream
from .tasks.instruction import template_of
from .tokenizer import EOT_TEXT

MAX_MESSAGE_CHARS = 4000


@dataclass
class ChatPrompt:
    text: str            # what the model reads
    tokens: int
    kept_turns: int      # earlier turns that fit
    dropped_turns: int   # earlier turns left out (the oldest)


def chat_prompt(tokenizer, template: PromptTemplate, history: list[tuple[str, str]], message: str,
                context_length: int, reserve: int) -> ChatPrompt:
    """The prompt for `message` after `history` [(user, model), ...], newest turns kept first."""
    if not message or not message.strip():
        raise PocketLLMError("The message is empty; type what you want to ask.", code="chat.empty")
    if len(message) > MAX_MESSAGE_CHARS:
        raise PocketLLMError("The message is {length:,} characters; at most {limit:,}.", code="chat.too_long",
                             length=len(message), limit=MAX_MESSAGE_CHARS)
    budget = max(1, context_length - reserve)
    current = template.prompt(message)
    used = len(tokenizer.encode(current))
    turns: list[str] = []
    for user, answer in reversed(history):
        turn = template.prompt(user) + answer + EOT_TEXT
        cost = len(tokenizer.encode(turn))
        if used + cost > budget:
            break
        turns.insert(0, turn)
        used += cost
    text = "".join(turns) + current
    return ChatPrompt(text, used, len(turns), len(history) - len(turns))


def chat(model, history: list[tuple[str, str]], message: str, sampling: Sampling = Sampling(),
         max_new_tokens: int = 100, template: PromptTemplate | str | dict | None = None,
         tokenizer=None) -> tuple[ChatPrompt, Iterator[str]]:
    """(the prompt built, a stream of the answer).  `model` is a Checkpoint of an instruction
    model (its template is used) or a model with `tokenizer=` and `template=`."""
    gpt, tok = model_and_tokenizer(model, tokenizer)
    if template is None:
        template = template_of(getattr(model, "task", None))
    if not isinstance(template, PromptTemplate):
        template = PromptTemplate.from_dict(template) if isinstance(template, dict) else get_template(template)
    reserve = min(max_new_tokens, gpt.cfg.context_length // 2)
    prompt = chat_prompt(tok, template, history, message, gpt.cfg.context_length, reserve)
    return prompt, stream(gpt, prompt.text, max_new_tokens, sampling, tok)
