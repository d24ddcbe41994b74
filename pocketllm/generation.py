"""Text generation as a stream.

Each step turns the model's last logits into a probability distribution
(`apply_penalties` for tokens already in the text, then `next_token_probs`:
temperature, top-k, top-p, min-p), picks a token
(greedy when temperature is 0: the one-hot's token), and feeds only that token back in, thanks to
the key/value cache.  `stream` yields text pieces as soon as they are whole
characters, so Chinese never shows a half-decoded `�`.

The text side comes from the model's own tokenizer: pass a `Checkpoint` (from
`load_model`, which carries it) or `tokenizer=`.  With `valid_utf8` on (the
default), sampling never picks a token that would leave a broken character
(`tokenizer/utf8.py`), so a barely trained byte-level model still writes text.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Iterable, Iterator

import torch

from .decoder import Decoder
from .errors import Phrase, PhraseList, PocketLLMError, shown
from .tokenizer import BOUNDARY, Tokenizer, gpt2_tokenizer
from .tokenizer.gpt2 import VOCAB_SIZE as GPT2_VOCAB


MAX_TEMPERATURE = 100.0
MAX_SEED = 2**63 - 1
MAX_STOPS, STOP_CHARS = 16, 200  # stop strings: how many, how long each


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0   # 0 = greedy (always the most likely token)
    top_k: int | None = None   # keep only the k most likely tokens
    top_p: float | None = None  # keep the smallest set whose probability reaches p
    seed: int | None = None
    valid_utf8: bool = True    # only pick tokens that keep the text valid UTF-8 (no `�`)
    # Against loops, on every token already in the context (prompt and generated so far):
    repetition_penalty: float = 1.0  # CTRL's rule: a seen token's logit ÷ p if positive, × p if negative
    frequency_penalty: float = 0.0   # logit − f × (times the token was seen)
    presence_penalty: float = 0.0    # logit − p once if the token was seen at all
    min_p: float | None = None       # keep tokens at least min_p × the most likely token's probability
    stop: tuple = ()                 # end the text where one of these strings appears (not included)

    def __post_init__(self):
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        problems = sampling_problems(self)
        if problems:
            raise PocketLLMError("Invalid sampling settings: {problems}.", code="sampling.invalid",
                                 problems=PhraseList(problems))
        object.__setattr__(self, "stop", tuple(self.stop or ()))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def penalizes(self) -> bool:
        return self.repetition_penalty != 1.0 or self.frequency_penalty != 0.0 or self.presence_penalty != 0.0

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "Sampling":
        if not isinstance(data, dict):
            raise PocketLLMError("A sampling preset must be a JSON object of settings; fix or delete the file.",
                                 code="sampling.preset_not_object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PocketLLMError("Unknown sampling setting(s) {unknown}; known: {known}.",
                                 code="sampling.unknown_setting", unknown=", ".join(unknown),
                                 known=", ".join(sorted(known)))
        return cls(**{k: (tuple(v) if k == "stop" else v) for k, v in data.items()})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def sampling_problems(s: Sampling) -> list[Phrase]:
    """Every problem of the sampling settings `s`, each a coded phrase, none raised."""
    problems = []
    if not (_number(s.temperature) and 0 <= s.temperature <= MAX_TEMPERATURE):
        problems.append(Phrase("temperature must be a number from 0 (greedy) to {limit:g}, usually 0.7–1.0 "
                               "(got {got})", code="sampling.bad_temperature", limit=MAX_TEMPERATURE,
                               got=shown(s.temperature)))
    if s.top_k is not None and not (isinstance(s.top_k, int) and not isinstance(s.top_k, bool) and s.top_k >= 1):
        problems.append(Phrase("top_k must be a whole number of at least 1, or empty for off (got {got})",
                               code="sampling.bad_top_k", got=shown(s.top_k)))
    if s.top_p is not None and not (_number(s.top_p) and 0 < s.top_p <= 1):
        problems.append(Phrase("top_p must be above 0 and at most 1, usually 0.9–0.95 (got {got})",
                               code="sampling.bad_top_p", got=shown(s.top_p)))
    if s.min_p is not None and not (_number(s.min_p) and 0 <= s.min_p <= 1):
        problems.append(Phrase("min_p must be from 0 to 1, usually 0.05–0.1 (got {got})", code="sampling.bad_min_p",
                               got=shown(s.min_p)))
    if not (_number(s.repetition_penalty) and 1.0 <= s.repetition_penalty <= 10.0):
        problems.append(Phrase("repetition_penalty must be from 1 (off) to 10, usually 1.1–1.3 (got {got})",
                               code="sampling.bad_repetition_penalty", got=shown(s.repetition_penalty)))
    for name, said in (("frequency_penalty", Phrase("frequency_penalty", code="sampling.name.frequency_penalty")),
                       ("presence_penalty", Phrase("presence_penalty", code="sampling.name.presence_penalty"))):
        value = getattr(s, name)
        if not (_number(value) and -2.0 <= value <= 2.0):
            problems.append(Phrase("{name} must be from -2 to 2, 0 is off (got {got})", code="sampling.bad_penalty",
                                   name=said, got=shown(value)))
    seed = s.seed
    if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED):
        problems.append(Phrase("seed must be a whole number from 0 to {limit:,} (got {got})", code="sampling.bad_seed",
                               limit=MAX_SEED, got=shown(seed)))
    stops = s.stop if isinstance(s.stop, (tuple, list)) else None
    if stops is None or len(stops) > MAX_STOPS or not all(isinstance(x, str) and 0 < len(x) <= STOP_CHARS
                                                        for x in stops):
        problems.append(Phrase("stop strings: at most {most}, each 1 to {chars} characters", code="sampling.bad_stop",
                               most=MAX_STOPS, chars=STOP_CHARS))
    if not isinstance(s.valid_utf8, bool):
        problems.append(Phrase("valid_utf8 must be true or false (got {got})", code="sampling.bad_valid_utf8",
                               got=shown(s.valid_utf8)))
    return problems


def apply_penalties(logits: torch.Tensor, counts: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Push down tokens already in the text.  `counts[v]` = how often token v occurs there."""
    if not sampling.penalizes:
        return logits
    logits = logits.float()
    seen = counts > 0
    if sampling.repetition_penalty != 1.0:
        r = sampling.repetition_penalty
        logits = torch.where(seen, torch.where(logits > 0, logits / r, logits * r), logits)
    return logits - sampling.frequency_penalty * counts - sampling.presence_penalty * seen.float()


def token_counts(ids: list[int], size: int, device=None) -> torch.Tensor:
    inside = torch.tensor([i for i in ids if 0 <= i < size], dtype=torch.long, device=device)
    return torch.bincount(inside, minlength=size).float()


def next_token_probs(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Probabilities over the vocabulary (last dim) after the sampling filters, in this
    order: temperature, top-k, top-p, min-p.  Greedy (temperature 0) is a one-hot on the
    most likely token.  The penalties and the UTF-8 rule come before (`generate_ids`)."""
    logits = logits.float()
    if sampling.greedy:
        return torch.zeros_like(logits).scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
    # Subtract the maximum first: a tiny temperature then gives 0 and -inf, never inf - inf.
    logits = (logits - logits.max(-1, keepdim=True).values) / sampling.temperature
    top_k, top_p, min_p = sampling.top_k, sampling.top_p, sampling.min_p
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the tokens ranked higher
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)  # the top token always stays
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
        probs = probs / probs.sum(-1, keepdim=True)
    if min_p is not None and min_p > 0:
        floor = min_p * probs.max(-1, keepdim=True).values  # the top token always stays
        probs = probs.masked_fill(probs < floor, 0.0)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def model_and_tokenizer(model, tokenizer: Tokenizer | None = None, *, required: bool = True):
    """(GPTModel, its tokenizer) from a Checkpoint or a bare model.

    A bare model with GPT-2's 50,257-row vocabulary reads GPT-2's tokens (the
    book's set-up); any other bare model needs `tokenizer=`.
    """
    if hasattr(model, "model") and hasattr(model, "tokenizer"):  # a Checkpoint
        return model.model, tokenizer or model.tokenizer
    if tokenizer is None and model.cfg.vocab_size == GPT2_VOCAB:
        tokenizer = gpt2_tokenizer()
    if tokenizer is None and required:
        raise PocketLLMError(
            "This model has a {vocab}-token vocabulary, not GPT-2's, so its tokenizer must be given: "
            "load it with load_model() (the checkpoint carries it) or pass tokenizer=.",
            code="generation.needs_tokenizer", vocab=f"{model.cfg.vocab_size:,}")
    return model, tokenizer


CONTEXT_SHIFT = 0.25  # the share of a full window dropped at once when generation runs past the context


@torch.inference_mode()
def generate_ids(model, prompt_ids: list[int], max_new_tokens: int = 50, sampling: Sampling = Sampling(),
                 stop_ids: Iterable[int] | None = None, use_cache: bool = True,
                 tokenizer: Tokenizer | None = None, observe=None, visible_start: bool = False) -> Iterator[int]:
    """Yield new token ids one by one.  A prompt longer than the context keeps its last part.

    Past the context, the model reads a window of the latest tokens.  A new position cannot be
    added to a full KV cache (every position would shift), so the window is rebuilt — but not at
    every token, which made 50 tokens past a 124M model's context take 150 s: when it is full it
    drops its oldest quarter (`CONTEXT_SHIFT`) at once, and the next quarter's tokens are cached
    steps again.  The model then sees between 3/4 of its context and all of it; with or without
    the cache, the windows (and so the tokens) are the same.

    `stop_ids` default to the tokenizer's end-of-text; an empty prompt starts
    after end-of-text, as every training text does.  `observe(logits, token)`, if
    given, sees the logits each token was drawn from (after penalties and the
    UTF-8 rule, before temperature and the filters).  `visible_start`: the first token can be
    neither a stop nor only white space (an answer is never empty: no record's answer is).
    """
    model, tok = model_and_tokenizer(model, tokenizer, required=False)
    if max_new_tokens < 0:
        raise PocketLLMError("max_new_tokens must be 0 or more (got {got}).", code="generation.bad_max_new_tokens",
                             got=max_new_tokens)
    eot = tok.eot_id if tok is not None else None
    context = model.cfg.context_length
    ids = list(prompt_ids) or ([eot] if eot is not None else [])
    if not ids:
        raise PocketLLMError("The prompt is empty and the model has no tokenizer to start from; give a prompt.",
                             code="generation.empty_prompt")
    ids = ids[-context:]
    device = model.tok_emb.weight.device
    generator = None
    if not sampling.greedy:
        generator = torch.Generator(device=device)
        if sampling.seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(sampling.seed))
    stops = set(stop_ids) if stop_ids is not None else ({eot} if eot is not None else set())
    guard = tok.utf8_guard if tok is not None and sampling.valid_utf8 else None
    state, masks = BOUNDARY, {}
    counts = None
    cache = model.new_cache() if use_cache else None
    decoder = Decoder.for_model(model, cache)  # the fast path for one new token; None: the model's forward

    start = 0  # the window is ids[start:]
    keep = max(1, context - max(1, int(context * CONTEXT_SHIFT)))  # what a full window keeps

    def window_logits():
        window = torch.tensor([ids[start:]], device=device)
        if cache is not None:
            cache.reset()
        return model(window, cache=cache, last_only=True)[0, -1]

    logits = window_logits()
    if sampling.penalizes:
        counts = token_counts(ids, logits.shape[-1], device)
    for step in range(max_new_tokens):
        if counts is not None:
            logits = apply_penalties(logits, counts, sampling)
        if step == 0 and visible_start and tok is not None:
            logits = logits.masked_fill(_blank_or_stop(tok, stops, logits.shape[-1]).to(device), float("-inf"))
        if guard is not None:
            if state not in masks:  # 0 where allowed, -inf where not: one add per token (a fill is 10x slower)
                allowed = guard.mask_for(state, logits.shape[-1]).to(device)
                masks[state] = torch.zeros(allowed.shape, device=device).masked_fill_(~allowed, float("-inf"))
            logits = logits + masks[state]
        if sampling.greedy:  # = next_token_probs' one-hot, without building it
            token = int(torch.max(logits.float(), -1).indices)
        else:
            token = int(torch.multinomial(next_token_probs(logits, sampling), 1, generator=generator))
        if observe is not None:
            observe(logits, token)
        yield token
        if token in stops:
            return
        if guard is not None:
            state = guard.advance(state, token)
        if counts is not None and token < counts.shape[0]:
            counts[token] += 1
        ids.append(token)
        if len(ids) - start > context:  # the window is full: drop its oldest quarter, read the rest once
            start = len(ids) - keep
            logits = window_logits()
        elif cache is not None:
            logits = (decoder.step(token) if decoder is not None
                      else model(torch.tensor([[token]], device=device), cache=cache, last_only=True)[0, -1])
        else:
            logits = window_logits()


def _blank_or_stop(tok: Tokenizer, stops, size: int) -> torch.Tensor:
    """True for the tokens an answer may not start with: the stops and those of white space only."""
    mask = torch.zeros(size, dtype=torch.bool)
    mask[[i for i in (*tok.blank_ids, *stops) if 0 <= i < size]] = True
    return mask


class StopStrings:
    """Cuts a stream of text at the first stop string, even one split across pieces: the
    end of the text that could still become a stop string is held back until it is clear."""

    def __init__(self, stops):
        self.stops = tuple(stops)
        self.held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """(text that is safe to show, whether a stop string was reached)."""
        text = self.held + piece
        hits = [text.find(s) for s in self.stops if s in text]
        if hits:
            self.held = ""
            return text[:min(hits)], True
        keep = max((k for s in self.stops for k in range(1, min(len(s) - 1, len(text)) + 1)
                    if s.startswith(text[-k:])), default=0)
        self.held = text[len(text) - keep:]
        return text[:len(text) - keep], False

    def flush(self) -> str:
        out, self.held = self.held, ""
        return out


class TextStream:
    """The continuation of a prompt as text pieces (iterate it), and how many tokens the
    model has made so far (`new_tokens`, end-of-text not counted).  A piece can carry
    several tokens (a character spread over byte tokens) or wait for the next one, so
    counting pieces, or tokenizing the text again, gives a different number."""

    def __init__(self, model, prompt: str, max_new_tokens: int, sampling: Sampling,
                 tokenizer: Tokenizer | None, stop_at_eot: bool, visible_start: bool = False):
        self.model, self.tok = model_and_tokenizer(model, tokenizer)
        self.new_tokens = 0
        self.visible_start = visible_start
        self._pieces = self._generate(prompt, max_new_tokens, sampling, stop_at_eot)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        return next(self._pieces)

    def _generate(self, prompt, max_new_tokens, sampling, stop_at_eot) -> Iterator[str]:
        tok = self.tok
        decoder = tok.stream_decoder()
        stops = (tok.eot_id,) if stop_at_eot else ()
        cutter = StopStrings(sampling.stop)
        for token in generate_ids(self.model, tok.encode(prompt), max_new_tokens, sampling, stop_ids=stops,
                                  tokenizer=tok, visible_start=self.visible_start):
            if token == tok.eot_id and stop_at_eot:
                break
            self.new_tokens += 1
            piece, stopped = cutter.feed(decoder.push(token))
            if piece:
                yield piece
            if stopped:
                return
        tail = cutter.flush()
        if not sampling.valid_utf8:  # the old behaviour: an unfinished character shows as �
            tail += decoder.flush()
        # With the rule on, anything still held back by the decoder is the start of a character
        # that the token budget cut off; whole characters only, so it is left out.
        if tail:
            yield tail


def stream(model, prompt: str, max_new_tokens: int = 50, sampling: Sampling = Sampling(),
           tokenizer: Tokenizer | None = None, stop_at_eot: bool = True, visible_start: bool = False) -> TextStream:
    """The continuation of `prompt` as text pieces (whole characters only), up to
    end-of-text, `max_new_tokens`, or the first of `sampling.stop` (which is left out);
    its `new_tokens` counts the tokens made.  `visible_start`: see `generate_ids`."""
    return TextStream(model, prompt, max_new_tokens, sampling, tokenizer, stop_at_eot, visible_start)


@dataclass
class GeneratedToken:
    """One token of a generation and what the model thought of it."""
    id: int
    piece: str          # the text that appeared with this token ("" while a character is unfinished)
    label: str          # the token's own bytes as text (a byte piece shows as <e5 ad>)
    prob: float         # the model's probability for it (temperature 1, after penalties and the UTF-8 rule)
    top: list           # [(label, prob)] the most likely alternatives at that point, best first


def generate_explained(model, prompt: str, max_new_tokens: int = 50, sampling: Sampling = Sampling(),
                       tokenizer: Tokenizer | None = None, top: int = 5) -> list[GeneratedToken]:
    """Generate like `stream`, and keep each token with its probability and the alternatives
    the model weighed — the per-token view of what it was thinking while it wrote."""
    model, tok = model_and_tokenizer(model, tokenizer)
    seen: list[tuple[torch.Tensor, int]] = []

    def keep(logits, token):
        probs = torch.softmax(logits.float(), -1)
        best = torch.topk(probs, min(top, probs.shape[-1]))
        seen.append((float(probs[token]), list(zip(best.indices.tolist(), best.values.tolist()))))

    def label(i: int) -> str:
        raw = tok.token_bytes(i)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "<" + raw.hex(" ") + ">"

    decoder = tok.stream_decoder()
    cutter = StopStrings(sampling.stop)
    out = []
    for token in generate_ids(model, tok.encode(prompt), max_new_tokens, sampling, tokenizer=tok, observe=keep):
        if token == tok.eot_id:
            break
        piece, stopped = cutter.feed(decoder.push(token))
        prob, alternatives = seen[-1]
        out.append(GeneratedToken(token, piece, label(token), prob, [(label(i), p) for i, p in alternatives]))
        if stopped:
            break
    if out:
        out[-1].piece += cutter.flush()
    return out


def generate(model, prompt: str, max_new_tokens: int = 50, sampling: Sampling = Sampling(),
             tokenizer: Tokenizer | None = None, visible_start: bool = False) -> str:
    """The whole continuation as one string."""
    return "".join(stream(model, prompt, max_new_tokens, sampling, tokenizer, visible_start=visible_start))
