"""The training engine: one loop for every task, its events, schedule and hardware."""
from .events import (END_KINDS, CheckpointSaved, Eval, Event, Failed, Finished, Sample, Started, Step,
                     Stopped, event_from_dict, overfitting, read_events)
from .hardware import cpu_has_fast_bf16, pick_device, pick_dtype
from .schedule import learning_rate
from .trainer import STATE_FILE, Task, Trainer, TrainSettings, make_optimizer

__all__ = ["Trainer", "TrainSettings", "Task", "make_optimizer", "learning_rate", "STATE_FILE",
           "Event", "Started", "Step", "Eval", "Sample", "CheckpointSaved", "Finished", "Stopped",
           "Failed", "END_KINDS", "event_from_dict", "overfitting", "read_events", "pick_device", "pick_dtype",
           "cpu_has_fast_bf16"]
