"""The model, one concept per file; read them in this order:
layer_norm → attention → feed_forward → block → gpt (and kv_cache for generation),
then the modern parts that Llama and Qwen3 put in GPT-2's places:
rms_norm → rope → (grouped-query attention and QK-norm in attention,
SwiGLU in feed_forward); the same `GPTModel` assembles whichever its config names.

Only the maths lives here.  Faster generation swaps modules of a built model for
equivalent ones (`pocketllm/speedups.py`, `pocketllm/quantize.py`)."""
from .attention import CausalAttention, MultiHeadAttention, attention_weights, causal_mask
from .block import TransformerBlock
from .feed_forward import FeedForward, SwiGLU
from .gpt import GPTModel, LearnedPositions, Trace
from .kv_cache import KVCache, LayerCache
from .layer_norm import LayerNorm
from .rms_norm import RMSNorm
from .rope import NoPositions, NoRotation, RoPE

__all__ = ["GPTModel", "Trace", "KVCache", "LayerCache", "LayerNorm", "MultiHeadAttention",
           "CausalAttention", "attention_weights", "causal_mask", "FeedForward", "TransformerBlock", "RMSNorm", "RoPE",
           "SwiGLU", "LearnedPositions", "NoPositions", "NoRotation"]
