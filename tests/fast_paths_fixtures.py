"""A tiny model briefly trained on the bundled Shakespeare, at the character level, so the
fast generation paths can be checked against fp32 on real text (random weights have
near-ties everywhere, which makes "the same greedy tokens" mean little)."""
from functools import lru_cache
from pathlib import Path

import torch

from pocketllm import GPTModel, ModelConfig

TEXT = (Path(__file__).resolve().parent.parent / "data" / "pretrain" / "shakespeare.txt").read_text()[:200_000]
CHARS = sorted(set(TEXT))
STOI = {c: i for i, c in enumerate(CHARS)}


def encode(text: str) -> list[int]:
    return [STOI[c] for c in text]


def decode(ids) -> str:
    return "".join(CHARS[i] for i in ids)


LIVELY = dict(vocab_size=50257, context_length=32, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0,
              qkv_bias=True)


def lively(seed: int = 0, scale: float = 8.0, **config) -> GPTModel:
    """A tiny random model (LIVELY's shape, `config` changing any field) with large weights, so
    greedy output is varied and ties are rare."""
    torch.manual_seed(seed)
    model = GPTModel(ModelConfig(**{**LIVELY, **config})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


@lru_cache(maxsize=1)  # one training per test session, shared by the test modules
def trained_char_model(steps: int = 80, seed: int = 0) -> GPTModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=len(CHARS), context_length=64, emb_dim=64, num_heads=4, num_layers=2,
                      drop_rate=0.0, qkv_bias=True)
    model = GPTModel(cfg)
    data = torch.tensor(encode(TEXT))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - 65, (8,))
        batch = torch.stack([data[s:s + 65] for s in starts.tolist()])
        logits = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
