"""Text generation as a stream.

Each step turns the model's last logits into a probability distribution
(`next_token_probs`: temperature, then top-k, then top-p), picks a token
(greedy when temperature is 0), and feeds only that token back in, thanks to
the key/value cache.  `stream` yields text pieces as soon as they are whole
characters, so Chinese never shows a half-decoded `�`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import torch

from .errors import PocketLLMError
from .tokenizer import EOT_ID, Tokenizer, get_tokenizer


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0   # 0 = greedy (always the most likely token)
    top_k: int | None = None   # keep only the k most likely tokens
    top_p: float | None = None  # keep the smallest set whose probability reaches p
    seed: int | None = None

    def __post_init__(self):
        if self.temperature < 0:
            raise PocketLLMError(f"temperature must be 0 or more (got {self.temperature}).")
        if self.top_k is not None and self.top_k < 1:
            raise PocketLLMError(f"top_k must be at least 1 (got {self.top_k}); leave it empty to turn it off.")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise PocketLLMError(f"top_p must be in (0, 1] (got {self.top_p}).")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def next_token_probs(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
                     top_p: float | None = None) -> torch.Tensor:
    """Probabilities over the vocabulary after the sampling filters (last dim = vocab).

    Greedy (temperature 0) is a one-hot on the most likely token.
    """
    logits = logits.float()
    if temperature == 0:
        probs = torch.zeros_like(logits)
        return probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
    logits = logits / temperature
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
    return probs


@torch.inference_mode()
def generate_ids(model, prompt_ids: list[int], max_new_tokens: int = 50, sampling: Sampling = Sampling(),
                 stop_ids: Iterable[int] = (EOT_ID,), use_cache: bool = True) -> Iterator[int]:
    """Yield new token ids one by one.  A prompt longer than the context keeps its last part."""
    if max_new_tokens < 0:
        raise PocketLLMError(f"max_new_tokens must be 0 or more (got {max_new_tokens}).")
    context = model.cfg.context_length
    ids = list(prompt_ids) or [EOT_ID]  # GPT-2 starts a text after <|endoftext|>
    ids = ids[-context:]
    device = model.tok_emb.weight.device
    generator = None
    if not sampling.greedy:
        generator = torch.Generator(device=device)
        if sampling.seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(sampling.seed))
    stops = set(stop_ids)
    cache = model.new_cache(1) if use_cache else None

    def window_logits():
        window = torch.tensor([ids[-context:]], device=device)
        if cache is not None:
            cache.reset()
        return model(window, cache=cache, last_only=True)[0, -1]

    logits = window_logits()
    for _ in range(max_new_tokens):
        if sampling.greedy:
            token = int(logits.argmax())
        else:
            probs = next_token_probs(logits, sampling.temperature, sampling.top_k, sampling.top_p)
            token = int(torch.multinomial(probs, 1, generator=generator))
        yield token
        if token in stops:
            return
        ids.append(token)
        if cache is not None and cache.length < context:
            logits = model(torch.tensor([[token]], device=device), cache=cache, last_only=True)[0, -1]
        else:  # no cache, or the window is full: positions shift, so recompute the window
            logits = window_logits()


def stream(model, prompt: str, max_new_tokens: int = 50, sampling: Sampling = Sampling(),
           tokenizer: Tokenizer | None = None, stop_at_eot: bool = True) -> Iterator[str]:
    """Yield the continuation of `prompt` as text pieces (whole characters only)."""
    tok = tokenizer or get_tokenizer()
    decoder = tok.stream_decoder()
    stops = (EOT_ID,) if stop_at_eot else ()
    for token in generate_ids(model, tok.encode(prompt), max_new_tokens, sampling, stop_ids=stops):
        if token == EOT_ID and stop_at_eot:
            break
        piece = decoder.push(token)
        if piece:
            yield piece
    tail = decoder.flush()
    if tail:
        yield tail


def generate(model, prompt: str, max_new_tokens: int = 50, sampling: Sampling = Sampling(),
             tokenizer: Tokenizer | None = None) -> str:
    """The whole continuation as one string."""
    return "".join(stream(model, prompt, max_new_tokens, sampling, tokenizer))
