"""What differs per task: language modelling, classification, instructions (and LoRA)."""
from .language_modeling import (BUNDLED_CORPORA, DEFAULT_CHECKPOINTS, DEFAULT_CORPUS, LanguageModelingTask,
                                PretrainSettings, default_run_dir, prepare_pretraining, resolve_output)

__all__ = ["LanguageModelingTask", "PretrainSettings", "prepare_pretraining", "BUNDLED_CORPORA",
           "DEFAULT_CORPUS", "DEFAULT_CHECKPOINTS", "default_run_dir", "resolve_output"]
