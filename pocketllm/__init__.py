"""PocketLLM: build a GPT-2-class model from scratch, train it, finetune it, look inside it.

Everything a script or the app needs is importable from here; nothing else
should import from deep inside the package.
"""
from .checkpoint import LANGUAGE_MODEL, Checkpoint, NotACheckpoint, build_model, load_model, read_header, save_checkpoint
from .config import LIMITS as CONFIG_LIMITS, ModelConfig, list_presets
from .describe import describe, parameter_breakdown
from .errors import PocketLLMError
from .kinds import TaskKind, task_kind
from .cli.argv import command_line, to_argv
from .generation import (GeneratedToken, Sampling, generate, generate_explained, generate_ids, model_and_tokenizer,
                         next_token_probs, stream)
from .chat import ChatPrompt, chat, chat_prompt
from .gpt2 import export_hf, import_gpt2
from . import inspect
from .compare import Comparison, compare_runs
from .presets import (load_sampling_preset, load_training_preset, sampling_presets, save_sampling_preset, save_shape,
                      save_training_preset, training_presets)
from .catalog import delete_checkpoint, delete_run, list_checkpoints, rename_checkpoint
from .data import (DEFAULT_TEMPLATE, TEMPLATES, Corpus, PromptTemplate, file_sha256, get_template, load_corpus, load_instructions,
                   read_table, read_text, tokenize_file)
from .jobs import Job, JobBusy, JobRunner, RunView, list_runs, read_run, run_signature
from .tasks import (FRESH_CONFIG, USUAL_LORA_RANK, BUNDLED_CORPORA, train_corpus_tokenizer, DEFAULT_CHECKPOINTS, DEFAULT_INSTRUCTIONS, DEFAULT_TABLE, ClassifySettings, InstructSettings, PretrainSettings, race_settings,
                    apply_lora, classify, default_run_dir, load_adapters, merge_lora, prepare_classification,
                    prepare_instruction, prepare_pretraining, read_test_responses, respond, save_adapters, ANSWER_TOKENS,
                    template_of)
from .training.trainer import TRAIN_LIMITS, TRAIN_REAL_RANGES
from .training.optimizers import OPTIMIZERS
from .training.recipes import DEFAULT_RECIPE, RECIPES, apply_recipe
from .training.schedule import SCHEDULES
from .training.snapshots import AUTO_MAX_PARAMETERS as SNAPSHOTS_AUTO_MAX_PARAMETERS, load_snapshot, snapshot_steps
from .probes import phase_change, timeline as probe_timeline
from .generation import MAX_SEED, MAX_TEMPERATURE
from .training import STATE_FILE, Trainer, TrainSettings, event_from_dict, overfitting, read_events
from .model import GPTModel, KVCache
from .quantize import PRECISIONS, quantize_int8, to_precision
from .tokenizer import (DEFAULT_KIND, DEFAULT_VOCAB_SIZE, EOT_ID, KINDS as TOKENIZER_KINDS, Tokenizer,
                        gpt2_tokenizer, tokenizer_from_spec, train_tokenizer)

__version__ = "0.1.0"

__all__ = [
    "ModelConfig", "list_presets", "CONFIG_LIMITS", "TRAIN_LIMITS", "TRAIN_REAL_RANGES", "MAX_SEED", "MAX_TEMPERATURE", "GPTModel", "KVCache", "Tokenizer", "gpt2_tokenizer", "EOT_ID",
    "TOKENIZER_KINDS", "DEFAULT_KIND", "DEFAULT_VOCAB_SIZE", "tokenizer_from_spec", "train_tokenizer",
    "Checkpoint", "NotACheckpoint", "LANGUAGE_MODEL", "save_checkpoint", "load_model", "read_header", "build_model",
    "import_gpt2", "export_hf", "Sampling", "generate", "generate_ids", "model_and_tokenizer", "stream",
    "generate_explained", "GeneratedToken", "chat", "chat_prompt", "ChatPrompt", "next_token_probs",
    "describe", "parameter_breakdown", "PocketLLMError", "save_shape", "run_signature", "read_test_responses", "TaskKind", "task_kind", "command_line", "to_argv", "inspect", "PRECISIONS", "quantize_int8", "to_precision",
    "compare_runs", "Comparison", "sampling_presets", "load_sampling_preset", "save_sampling_preset",
    "training_presets", "load_training_preset", "save_training_preset",
    "list_checkpoints", "rename_checkpoint", "delete_checkpoint", "delete_run",
    "Corpus", "load_corpus", "tokenize_file", "file_sha256", "read_text",
    "Job", "JobBusy", "JobRunner", "RunView", "list_runs", "read_run",
    "FRESH_CONFIG", "USUAL_LORA_RANK", "PretrainSettings", "race_settings", "prepare_pretraining", "train_corpus_tokenizer", "BUNDLED_CORPORA", "DEFAULT_TABLE", "DEFAULT_INSTRUCTIONS", "DEFAULT_CHECKPOINTS", "default_run_dir",
    "Trainer", "TrainSettings", "STATE_FILE", "event_from_dict", "overfitting", "read_events",
    "DEFAULT_TEMPLATE", "TEMPLATES", "PromptTemplate", "get_template", "load_instructions", "read_table",
    "ClassifySettings", "InstructSettings", "prepare_classification", "prepare_instruction", "classify",
    "respond", "template_of", "apply_lora", "merge_lora", "load_adapters", "save_adapters",
    "ANSWER_TOKENS", "OPTIMIZERS", "SCHEDULES", "RECIPES", "DEFAULT_RECIPE", "apply_recipe",
    "load_snapshot", "snapshot_steps", "SNAPSHOTS_AUTO_MAX_PARAMETERS", "phase_change", "probe_timeline",
]
