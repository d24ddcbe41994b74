"""Step 5 — The whole GPT.

token ids → token embedding + position embedding → dropout
          → num_layers transformer blocks → final LayerNorm → output head → logits

The output head shares its weight with the token embedding (GPT-2 ties them),
unless the config says otherwise.  A classifier swaps the head for a small
`Linear(emb_dim, num_classes)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import PocketLLMError
from .block import TransformerBlock
from .kv_cache import KVCache
from .layer_norm import LayerNorm


@dataclass
class Trace:
    """What happened inside one forward pass (for the "look inside" view)."""
    logits: torch.Tensor            # (batch, tokens, vocab)
    hidden: list[torch.Tensor]      # residual stream after embeddings and after each block
    attentions: list[torch.Tensor]  # per block: (batch, heads, tokens, tokens)


class GPTModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.trf_blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.num_layers))
        self.final_norm = LayerNorm(cfg.emb_dim)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)
        self.num_classes = None  # set when the head is a classifier
        self.apply(self._init_weights)
        # GPT-2 scales the projections that write into the residual stream.
        for name, p in self.named_parameters():
            if name.endswith(("out_proj.weight", "layers.2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.num_layers))
        if cfg.tie_embeddings:
            self.out_head.weight = self.tok_emb.weight

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    # ---- the head -----------------------------------------------------------
    def set_classifier_head(self, num_classes: int):
        """Replace the vocabulary head by a classifier head (weights untied)."""
        ref = self.tok_emb.weight
        self.out_head = nn.Linear(self.cfg.emb_dim, num_classes, bias=True).to(ref.device, ref.dtype)
        nn.init.normal_(self.out_head.weight, std=0.02)
        nn.init.zeros_(self.out_head.bias)
        self.num_classes = num_classes
        return self

    @property
    def is_tied(self) -> bool:
        return self.out_head.weight is self.tok_emb.weight

    # ---- forward ------------------------------------------------------------
    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        t = idx.shape[1]
        if start + t > self.cfg.context_length:
            raise PocketLLMError(
                f"{start + t} tokens exceed the model's context of {self.cfg.context_length}; "
                f"keep the last {self.cfg.context_length} tokens or use a model with a longer context.")
        pos = torch.arange(start, start + t, device=idx.device)
        return self.drop_emb(self.tok_emb(idx) + self.pos_emb(pos))

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits for every position, or only the last one (all generation needs)."""
        x = self.embed(idx, cache.length if cache is not None else 0)
        for i, block in enumerate(self.trf_blocks):
            x = block(x, cache=cache, layer=i)
        if cache is not None:
            cache.advance(idx.shape[1])
        if last_only:
            x = x[:, -1:, :]
        return self.out_head(self.final_norm(x))

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        """The final-normalised hidden states (batch, tokens, emb_dim), before the head."""
        x = self.embed(idx)
        for block in self.trf_blocks:
            x = block(x)
        return self.final_norm(x)

    @torch.no_grad()
    def trace(self, idx: torch.Tensor) -> Trace:
        """A forward pass that keeps every layer's output and attention weights."""
        x = self.embed(idx)
        hidden, attentions = [x], []
        for block in self.trf_blocks:
            x, weights = block(x, need_weights=True)
            hidden.append(x)
            attentions.append(weights)
        return Trace(self.out_head(self.final_norm(x)), hidden, attentions)

    def new_cache(self, batch: int = 1, max_len: int | None = None) -> KVCache:
        ref = self.tok_emb.weight
        return KVCache(self.cfg.num_layers, batch, self.cfg.num_heads,
                       max_len or self.cfg.context_length, self.cfg.head_dim,
                       ref.dtype, ref.device)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # shared weights counted once
