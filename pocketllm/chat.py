"""Chat with an instruction model: every turn in the model's own prompt template.

An instruction model learned single exchanges: the template's prompt, the answer,
then `<|endoftext|>`.  A conversation is those exchanges one after another, the new
message last.  The earlier turns are kept newest first while they fit the context beside
the new message and room for the answer; only the oldest that do not fit are left out,
and the caller is told how many.  The answer's room is its whole length (at most half the
context), unless that would leave out one of the last two turns: then those turns are kept
as long as they fit the context with the new message at all, and the answer slides the
model's window over the oldest of them as it grows (`generate_ids` keeps the context's
last tokens), as the next message would leave them out anyway.  (A 60-token answer
reserved in full in a 128-token context left no room for even one short earlier turn.)

A small model often goes on after its answer with the template's next part
("### Instruction:", "### Response:" ...): the answer ends at the first of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .data.instructions import PromptTemplate, get_template
from .errors import PocketLLMError
from .generation import Sampling, model_and_tokenizer, stream
from .tasks.instruction import ANSWER_TOKENS, answer_sampling, template_of

MAX_MESSAGE_CHARS = 4000
KEEP_TURNS = 2   # the earlier turns a chat keeps whenever they fit the context with the new message


@dataclass
class ChatPrompt:
    text: str            # what the model reads
    tokens: int
    kept_turns: int      # earlier turns that fit
    dropped_turns: int   # earlier turns left out (the oldest)


def chat_prompt(tokenizer, template: PromptTemplate, history: list[tuple[str, str]], message: str,
                context_length: int, reserve: int) -> ChatPrompt:
    """The prompt for `message` after `history` [(user, model), ...], newest turns kept first,
    within `context_length - reserve` tokens."""
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
        turn = template.turn(user, answer)
        cost = len(tokenizer.encode(turn))
        if used + cost > budget:
            break
        turns.insert(0, turn)
        used += cost
    text = "".join(turns) + current
    return ChatPrompt(text, used, len(turns), len(history) - len(turns))


def chat_context(tokenizer, template: PromptTemplate, history: list[tuple[str, str]], message: str,
                 context_length: int, max_new_tokens: int) -> ChatPrompt:
    """The prompt with room for the whole answer (at most half the context), unless that
    leaves out one of the last KEEP_TURNS turns: then with room for its first token only
    (the rest slides the window over the oldest turns)."""
    room = max(1, min(max_new_tokens, context_length // 2))
    prompt = chat_prompt(tokenizer, template, history, message, context_length, room)
    if prompt.kept_turns < min(KEEP_TURNS, len(history)) and room > 1:
        prompt = chat_prompt(tokenizer, template, history, message, context_length, 1)
    return prompt


def chat(model, history: list[tuple[str, str]], message: str, sampling: Sampling = Sampling(),
         max_new_tokens: int = ANSWER_TOKENS, template: PromptTemplate | str | dict | None = None,
         tokenizer=None) -> tuple[ChatPrompt, Iterator[str]]:
    """(the prompt built, a stream of the answer).  `model` is a Checkpoint of an instruction
    model (its template is used) or a model with `tokenizer=` and `template=`."""
    gpt, tok = model_and_tokenizer(model, tokenizer)
    if template is None:
        template = template_of(getattr(model, "task", None), tok)
    if not isinstance(template, PromptTemplate):
        template = PromptTemplate.from_dict(template) if isinstance(template, dict) else get_template(template)
    prompt = chat_context(tok, template, history, message, gpt.cfg.context_length, max_new_tokens)
    return prompt, stream(gpt, prompt.text, max_new_tokens, answer_sampling(sampling, template), tok,
                          visible_start=True)  # an answer, never an empty bubble
