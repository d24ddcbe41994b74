"""The model, one concept per file; read them in this order:
layer_norm → attention → feed_forward → block → gpt (and kv_cache for generation).

Only the maths lives here.  Faster generation swaps modules of a built model for
equivalent ones (`pocketllm/speedups.py`, `pocketllm/quantize.py`)."""
from .attention import CausalAttention, MultiHeadAttention, attention_weights, causal_mask
from .block import TransformerBlock
from .feed_forward import FeedForward
from .gpt import GPTModel, Trace
from .kv_cache import KVCache, LayerCache
from .layer_norm import LayerNorm

__all__ = ["GPTModel", "Trace", "KVCache", "LayerCache", "LayerNorm", "MultiHeadAttention",
           "CausalAttention", "attention_weights", "causal_mask", "FeedForward", "TransformerBlock"]
