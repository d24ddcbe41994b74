"""What differs per task: language modelling, classification, instructions (and LoRA);
what they share before the first step is in run_setup."""
from .run_setup import (DEFAULT_CHECKPOINTS, FRESH_CONFIG, USUAL_LORA_RANK, FinetuneSettings, RunSettings, default_run_dir, load_base,
                        resolve_output, start_run)
from .language_modeling import (BUNDLED_CORPORA, DEFAULT_CORPUS, LanguageModelingTask, PretrainSettings, race_settings,
                                prepare_pretraining, train_corpus_tokenizer)
from .classification import (DEFAULT_TABLE, ClassificationTask, ClassifySettings, classification_report, classify,
                             prepare_classification, set_trainable)
from .instruction import (DEFAULT_INSTRUCTIONS, InstructionTask, InstructSettings, prepare_instruction,
                          read_test_responses, respond, template_of, ANSWER_TOKENS)
from .lora import LoRALinear, apply_lora, load_adapters, merge_lora, save_adapters

__all__ = ["LanguageModelingTask", "PretrainSettings", "prepare_pretraining", "BUNDLED_CORPORA",
           "DEFAULT_CORPUS", "DEFAULT_CHECKPOINTS", "default_run_dir", "resolve_output", "train_corpus_tokenizer",
           "RunSettings", "FinetuneSettings", "FRESH_CONFIG", "USUAL_LORA_RANK", "load_base", "start_run",
           "DEFAULT_TABLE", "DEFAULT_INSTRUCTIONS", "ClassificationTask", "ClassifySettings", "classification_report", "classify",
           "prepare_classification", "set_trainable", "InstructionTask", "InstructSettings",
           "prepare_instruction", "read_test_responses", "respond", "template_of", "ANSWER_TOKENS", "LoRALinear", "apply_lora", "load_adapters",
           "merge_lora", "save_adapters"]
