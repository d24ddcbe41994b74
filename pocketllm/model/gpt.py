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
from .attention import attention_weights
from .block import TransformerBlock
from .kv_cache import KVCache
from .layer_norm import LayerNorm


@dataclass
class Trace:
    """What happened inside one forward pass (for the "look inside" view)."""
    logits: torch.Tensor            # (batch, tokens, vocab)
    hidden: list[torch.Tensor]      # residual stream after embeddings and after each block: (batch, tokens, emb)
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
        return getattr(self.out_head, "weight", None) is self.tok_emb.weight

    # ---- forward ------------------------------------------------------------
    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token ids (b, t) at positions start.. -> token + position embeddings (b, t, emb_dim)."""
        t = idx.shape[1]
        if start + t > self.cfg.context_length:
            raise PocketLLMError(
                "{tokens} tokens exceed the model's context of {context}; keep the last {context} "
                "tokens or use a model with a longer context.",
                code="model.context_exceeded", tokens=start + t, context=self.cfg.context_length)
        pos = torch.arange(start, start + t, device=idx.device)
        return self.drop_emb(self.tok_emb(idx) + self.pos_emb(pos))

    def features(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Token ids (b, t) -> the final-normalised hidden states (b, t, emb_dim), before the head.

        With a cache, idx continues the positions it already holds, and their keys/values
        are added to it."""
        x = self.embed(idx, cache.length if cache is not None else 0)  # (b, t, emb_dim)
        for i, block in enumerate(self.trf_blocks):
            x = block(x, cache[i] if cache is not None else None)     # (b, t, emb_dim)
        return self.final_norm(x)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits (b, t, vocab) for every position, or (b, 1, vocab) for the last one only
        (all generation needs)."""
        x = self.features(idx, cache)
        if last_only:
            x = x[:, -1:, :]
        return self.out_head(x)

    @torch.no_grad()
    def trace(self, idx: torch.Tensor) -> Trace:
        """One ordinary forward pass, watched by hooks that keep each layer's output and
        attention weights (recomputed from the queries and keys the attention saw)."""
        hidden, attentions = [], []

        def keep_output(module, args, out):
            hidden.append(out)

        def keep_weights(module, args, out):
            q, k, _, start = args
            attentions.append(attention_weights(q, k, start))

        hooks = [self.drop_emb.register_forward_hook(keep_output)]
        for block in self.trf_blocks:
            hooks.append(block.register_forward_hook(keep_output))
            hooks.append(block.attn.attend.register_forward_hook(keep_weights))
        try:
            logits = self(idx)
        finally:
            for hook in hooks:
                hook.remove()
        return Trace(logits, hidden, attentions)

    def new_cache(self, max_len: int | None = None) -> KVCache:
        return KVCache(self.cfg.num_layers, max_len or self.cfg.context_length)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # shared weights counted once
