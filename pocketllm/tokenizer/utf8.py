"""Never print a broken character: which tokens keep the output valid UTF-8.

A byte-level vocabulary (GPT-2's, or a BPE trained here) has tokens that are
pieces of a character: a Chinese character is three UTF-8 bytes, and a token
may hold one or two of them.  A well-trained model puts the pieces back
together; a small one often does not, and the reader sees `�`.

UTF-8 is a tiny state machine.  After the bytes written so far, the decoder is
in one of eight states (at a character boundary, or waiting for 1, 2 or 3
continuation bytes, four of them with a narrower range for the next byte —
the rules of RFC 3629, section 4).  For every state we work out once, for every
token, whether its bytes keep the text valid and in which state it leaves it.
Sampling then masks the tokens that would break the text: an `[8, vocab]`
boolean table, one row per state.
"""
from __future__ import annotations

import numpy as np
import torch

BOUNDARY = 0
NUM_STATES = 8
INVALID = -1


def _transitions() -> np.ndarray:
    """next_state[state, byte] for UTF-8 (RFC 3629); INVALID where the byte breaks the text."""
    t = np.full((NUM_STATES, 256), INVALID, dtype=np.int8)
    cont = range(0x80, 0xC0)
    t[0, :0x80] = 0                        # ASCII
    t[0, 0xC2:0xE0] = 1                    # two-byte lead: one continuation to come
    t[0, 0xE0] = 4                         # E0: next byte A0..BF (no overlong forms)
    t[0, 0xE1:0xED] = 2
    t[0, 0xED] = 5                         # ED: next byte 80..9F (no surrogates)
    t[0, 0xEE:0xF0] = 2
    t[0, 0xF0] = 6                         # F0: next byte 90..BF
    t[0, 0xF1:0xF4] = 3
    t[0, 0xF4] = 7                         # F4: next byte 80..8F (up to U+10FFFF)
    t[1, cont] = 0
    t[2, cont] = 1
    t[3, cont] = 2
    t[4, 0xA0:0xC0] = 1
    t[5, 0x80:0xA0] = 1
    t[6, 0x90:0xC0] = 2
    t[7, 0x80:0x90] = 2
    return t


TRANSITIONS = _transitions()


def state_after(data: bytes, state: int = BOUNDARY) -> int:
    """The decoder state after `data` (INVALID once the bytes are not UTF-8)."""
    for b in data:
        state = int(TRANSITIONS[state, b])
        if state == INVALID:
            return INVALID
    return state


class Utf8Guard:
    """Per-state masks over a vocabulary: `allowed[state, id]` and `next_state[state, id]`."""

    def __init__(self, token_bytes: list[bytes]):
        vocab = len(token_bytes)
        lengths = np.fromiter((len(b) for b in token_bytes), dtype=np.int64, count=vocab)
        data = np.frombuffer(b"".join(token_bytes), dtype=np.uint8)
        # Run every token's bytes from every start state at once, one byte position at a time, longest
        # tokens first: step j touches only the tokens longer than j, so the work is the vocabulary's
        # total bytes (one 1,000-byte token in 65,536 no longer costs 1,000 steps over all of them).
        order = np.argsort(-lengths, kind="stable")
        starts = (np.cumsum(lengths) - lengths)[order]
        longer_than = -lengths[order]  # ascending: how many tokens are longer than j is a searchsorted
        state = np.repeat(np.arange(NUM_STATES, dtype=np.int8)[:, None], vocab, axis=1)
        for j in range(int(lengths.max(initial=0))):
            n = int(np.searchsorted(longer_than, -j, side="left"))
            now = state[:, :n]
            stepped = TRANSITIONS[np.where(now == INVALID, 0, now), data[starts[:n] + j][None, :]]
            state[:, :n] = np.where(now != INVALID, stepped, now)
        unsorted = np.empty_like(state)
        unsorted[:, order] = state
        state = unsorted
        state[:, lengths == 0] = INVALID  # a token with no bytes writes nothing; never pick it
        self.vocab_size = vocab
        self.next_state = state
        self.allowed = torch.from_numpy(state != INVALID)

    def mask_for(self, state: int, logits_size: int) -> torch.Tensor:
        """Allowed ids in `state`, sized like the model's logits (extra rows are never allowed)."""
        row = self.allowed[state]
        if logits_size > self.vocab_size:
            row = torch.cat([row, torch.zeros(logits_size - self.vocab_size, dtype=torch.bool)])
        return row[:logits_size]

    def advance(self, state: int, token: int) -> int:
        if not 0 <= token < self.vocab_size:
            return state
        nxt = int(self.next_state[state, token])
        return state if nxt == INVALID else nxt  # guard off, a broken byte: stay where we were
