"""The model, one concept per file; read them in this order:
layer_norm → attention → feed_forward → block → gpt (and kv_cache for generation)."""
from .attention import MultiHeadAttention, explicit_attention
from .block import TransformerBlock
from .feed_forward import FeedForward
from .gpt import GPTModel, Trace
from .kv_cache import KVCache
from .layer_norm import LayerNorm

__all__ = ["GPTModel", "Trace", "KVCache", "LayerNorm", "MultiHeadAttention",
           "explicit_attention", "FeedForward", "TransformerBlock"]
