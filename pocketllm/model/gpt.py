"""Step 5 — The whole GPT.

token ids → token embedding + position embedding → dropout
          → num_layers transformer blocks → final LayerNorm → output head → logits

The output head shares its weight with the token embedding (GPT-2 ties them),
unless the config says otherwise.  A classifier swaps the head for a small
`Linear(emb_dim, num_classes)`.

Llama and Qwen3 (Steps 6–9) are this same model with other parts: the config
names them (`ModelConfig.arch`), and `GPTModel` takes each from a table — the
position part here (`POSITIONS`), norms and feed-forward in block.py.  A rotary
model adds nothing to the embedding (`NoPositions`): one `RoPE` serves the
attention of every block.  The forward is the same straight path for all of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..errors import PocketLLMError
from .attention import MultiHeadAttention, attention_weights
from .block import NORMS, TransformerBlock
from .kv_cache import KVCache
from .rope import NoPositions, RoPE


class LearnedPositions(nn.Embedding):
    """GPT-2's position table: row p is added to the embedding of the token at position p."""

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        pos = torch.arange(start, start + x.shape[1], device=x.device)
        return x + super().forward(pos)


# position -> (the embedding's part, the attention's part) for a config
POSITIONS = {
    "learned": lambda cfg: (LearnedPositions(cfg.context_length, cfg.emb_dim), None),
    "rope": lambda cfg: (NoPositions(), RoPE(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)),
}


@dataclass
class Trace:
    """What happened inside one forward pass (for the "look inside" view)."""
    logits: torch.Tensor            # (batch, tokens, vocab)
    hidden: list[torch.Tensor]      # residual stream after embeddings and after each block: (batch, tokens, emb)
    attentions: list[torch.Tensor]  # per block: (batch, heads, tokens, tokens)


class GPTModel(nn.Module):
    def __init__(self, cfg):  # a pocketllm.config.ModelConfig (config.py counts parameters with this class)
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb, rope = POSITIONS[cfg.position](cfg)  # a table, or nothing and RoPE in attention
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.trf_blocks = nn.ModuleList(TransformerBlock(cfg, rope) for _ in range(cfg.num_layers))
        self.final_norm = NORMS[cfg.norm](cfg.emb_dim, cfg.norm_eps)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)
        self.num_classes = None  # set when the head is a classifier
        self.apply(self._init_weights)
        # GPT-2 scales the projections that write into the residual stream.
        for name, p in self.named_parameters():
            if name.endswith(self.RESIDUAL_WRITES):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.num_layers))
        if cfg.tie_embeddings:
            self.out_head.weight = self.tok_emb.weight

    # The weights that write each block's result into the residual stream (attention's and the MLP's last).
    RESIDUAL_WRITES = ("out_proj.weight", "layers.2.weight", "ffn.down.weight")

    def zero_residual_writes(self):
        """Start every block as the identity: its writes into the residual stream are zero, so the
        untrained model is just embeddings → head, and each block joins in as it learns (the
        speedruns' zero-initialised projections; the gradients still reach them through their inputs)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith(self.RESIDUAL_WRITES):
                    p.zero_()
        return self

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

    def grow_vocab(self, rows: int, parts: list[tuple[int, int, int]]):
        """Room for `rows` tokens (never fewer than now); each new token (id, left, right) starts from
        the mean of its two parts' embeddings, so a new word begins near what its pieces meant.
        A vocabulary head grows with the table (tied or not); a classifier head stays as it is."""
        def grown(weight: torch.Tensor) -> torch.Tensor:
            out = torch.empty(max(rows, weight.shape[0]), weight.shape[1], dtype=weight.dtype, device=weight.device)
            nn.init.normal_(out, mean=0.0, std=0.02)  # rows no token uses, as a fresh model's
            out[:weight.shape[0]] = weight
            for new, left, right in parts:  # in merge order: a part may be a token added just before
                out[new] = (out[left] + out[right]) / 2
            return out

        tied, vocab_head = self.is_tied, self.num_classes is None
        with torch.no_grad():
            self.tok_emb = nn.Embedding.from_pretrained(grown(self.tok_emb.weight), freeze=False)
            if tied:
                self.out_head.weight = self.tok_emb.weight
            elif vocab_head:
                head = grown(self.out_head.weight)
                self.out_head = nn.Linear(self.cfg.emb_dim, head.shape[0], bias=False).to(head.device, head.dtype)
                self.out_head.weight.copy_(head)
        self.cfg = replace(self.cfg, vocab_size=self.tok_emb.weight.shape[0])
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
        return self.drop_emb(self.pos_emb(self.tok_emb(idx), start))  # (b, t, emb_dim)

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

    # ---- names, for the code outside model/ ------------------------------------
    def lora_targets(self) -> tuple[str, ...]:
        """The name endings of the linears LoRA adapts: attention's projections and the
        feed-forward's linears, as this model's parts name them."""
        block = self.trf_blocks[0]
        return tuple(f"attn.{n}" for n in MultiHeadAttention.LINEARS) + tuple(
            f"ffn.{n}" for n in type(block.ffn).LINEARS)

    @staticmethod
    def header_shapes(cfg) -> dict[str, tuple]:
        """A few tensors' names and shapes that a checkpoint of `cfg` must have (O(1) to check)."""
        shapes = {"tok_emb.weight": (cfg.vocab_size, cfg.emb_dim)}
        if cfg.position == "learned":
            shapes["pos_emb.weight"] = (cfg.context_length, cfg.emb_dim)
        return shapes

    BLOCKS = "trf_blocks"  # the prefix of every block's tensors: trf_blocks.{i}.

    @property
    def blocks(self) -> nn.ModuleList:
        """The transformer blocks, in order (for code outside model/, which need not know their name)."""
        return self.trf_blocks

    def components(self) -> dict[str, list[nn.Module]]:
        """The model's parts by what they do (for the parameter and FLOP maps)."""
        return {"embeddings": [self.tok_emb, self.pos_emb], "attention": [b.attn for b in self.trf_blocks],
                "feed_forward": [b.ffn for b in self.trf_blocks], "head": [self.out_head]}


class _NoInitialValues(torch.overrides.TorchFunctionMode):
    """While counting: `torch.nn.init` leaves a tensor as it is.  Drawing values on the meta device
    goes through torch's Python reference kernels, whose first use imports torch's compiler —
    seconds on a cold start, for numbers nobody reads.  A mode is per thread: a model being built
    in another thread at the same moment is initialised as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else (kwargs or {}).get("tensor")
        return func(*args, **(kwargs or {}))


def count_parameters(cfg) -> dict:
    """Parameters of the model `cfg` describes, counted on modules built on the meta device (no
    memory): the model with one block, plus num_layers - 1 more blocks like it.  `total` counts
    a tied head once; `positions` is the learned position table's share (0 with RoPE)."""
    one = type("OneBlock", (), {**vars(cfg), "num_layers": 1})
    with torch.device("meta"), _NoInitialValues():
        model = GPTModel(one)
    block = sum(p.numel() for p in model.trf_blocks[0].parameters())
    total = sum(p.numel() for p in model.parameters()) + (cfg.num_layers - 1) * block
    positions = sum(p.numel() for p in model.pos_emb.parameters())
    return {"total": total, "positions": positions, "block": block}
