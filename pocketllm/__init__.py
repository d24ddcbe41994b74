"""PocketLLM: build a GPT-2-class model from scratch, train it, finetune it, look inside it.

Everything a script or the app needs is importable from here; nothing else
should import from deep inside the package.
"""
from .checkpoint import LANGUAGE_MODEL, Checkpoint, build_model, load_model, read_header, save_checkpoint
from .config import ModelConfig, list_presets
from .describe import describe, parameter_breakdown
from .errors import PocketLLMError
from .generation import Sampling, generate, generate_ids, next_token_probs, stream
from .gpt2 import export_hf, import_gpt2
from . import inspect
from .model import GPTModel, KVCache
from .tokenizer import EOT_ID, Tokenizer, get_tokenizer

__version__ = "0.1.0"

__all__ = [
    "ModelConfig", "list_presets", "GPTModel", "KVCache", "Tokenizer", "get_tokenizer", "EOT_ID",
    "Checkpoint", "LANGUAGE_MODEL", "save_checkpoint", "load_model", "read_header", "build_model",
    "import_gpt2", "export_hf", "Sampling", "generate", "generate_ids", "stream", "next_token_probs",
    "describe", "parameter_breakdown", "PocketLLMError", "inspect",
]
