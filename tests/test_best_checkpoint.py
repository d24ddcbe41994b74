"""Finetuning keeps the weights of its best validation score and stops when it stops improving.

A scripted validation curve makes the best step known in advance; the weights the
checkpoint holds are compared with the ones the model had when that step was evaluated.
"""
import torch

from pocketllm import load_model
from pocketllm.tasks.language_modeling import prepare_pretraining
from pocketllm.training import TrainSettings, read_events

from test_training import run_all, settings


class ScriptedVal:
    """Wraps a task: its validation scores follow `curve`; it photographs the weights at each evaluation."""

    def __init__(self, task, curve, metric=("loss", "min")):
        self.inner, self.curve, self.best_metric = task, list(curve), metric
        self.weights = {}  # step -> state dict at that evaluation

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def evaluate(self, model, split, max_batches, device):
        scores = self.inner.evaluate(model, split, max_batches, device)
        if split != "val" or not self.curve:  # (after the run: the report card reads the held-out split)
            return scores
        step = len(self.weights) + 1  # eval_every=1: the n-th evaluation is at step n
        self.weights[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        value = self.curve.pop(0)
        return {**scores, **(value if isinstance(value, dict) else {self.best_metric[0]: value})}


def scripted(tmp_path, curve, metric=("loss", "min"), **train):
    trainer = prepare_pretraining(settings(tmp_path, eval_every=1, eval_batches=1, **train))
    trainer.task = ScriptedVal(trainer.task, curve, metric)
    return trainer


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_keep_best_saves_the_best_steps_weights_and_patience_stops(tmp_path):
    trainer = scripted(tmp_path, [3.0, 2.0, 2.5, 2.6, 2.7, 2.8], max_steps=6, keep_best=True, patience=2)
    events = run_all(trainer)
    end = events[-1]
    assert end.kind == "finished" and end.stopped_early
    assert end.step == 4 and end.best_step == 2 and end.kept_step == 2  # 2.5, 2.6: two evaluations no better
    assert end.best_val["loss"] == 2.0
    assert [e.improved for e in events if e.kind == "eval"] == [True, True, False, False]
    saved = load_model(trainer.model_path)
    assert same_weights(saved.model.state_dict(), trainer.task.weights[2])
    assert not same_weights(saved.model.state_dict(), trainer.task.weights[4])
    assert saved.facts["kept_step"] == 2 and saved.facts["steps"] == 4 and saved.facts["val_loss"] == 2.0
    logged = read_events(trainer.run_dir / "events.jsonl")[-1]
    assert (logged["stopped_early"], logged["best_step"], logged["kept_step"]) == (True, 2, 2)


def test_without_keep_best_the_last_step_is_saved_and_all_steps_run(tmp_path):
    trainer = scripted(tmp_path, [3.0, 2.0, 2.5, 2.6, 2.7, 2.8], max_steps=6)
    end = run_all(trainer)[-1]
    assert end.step == 6 and not end.stopped_early and end.kept_step is None and end.best_step == 2
    assert same_weights(load_model(trainer.model_path).model.state_dict(), trainer.task.weights[6])


def test_a_metric_that_should_rise_is_watched_upwards_and_ties_go_to_the_lower_loss(tmp_path):
    curve = [{"accuracy": a, "loss": l} for a, l in
             [(0.5, 1.0), (0.8, 0.6), (0.8, 0.5), (0.8, 0.55), (0.7, 0.8), (0.9, 0.4)]]
    trainer = scripted(tmp_path, curve, metric=("accuracy", "max"), max_steps=6, keep_best=True, patience=2)
    events = run_all(trainer)
    end = events[-1]
    # Step 3 ties step 2's accuracy at a lower loss: better. Step 4 ties at a higher loss: not.
    assert [e.improved for e in events if e.kind == "eval"] == [True, True, True, False, False]
    assert end.stopped_early and end.step == 5 and end.kept_step == 3
    assert end.best_val == {**end.best_val, "accuracy": 0.8, "loss": 0.5}
    assert same_weights(load_model(trainer.model_path).model.state_dict(), trainer.task.weights[3])


def test_a_stop_request_also_keeps_the_best(tmp_path):
    trainer = scripted(tmp_path, [2.0, 3.0, 3.0, 3.0], max_steps=6, keep_best=True)

    def stop_at_3(tr, event):
        if event.kind == "step" and event.step == 3:
            tr.stop_event.set()
    events = run_all(trainer, stop_at_3)
    assert events[-1].kind == "stopped" and events[-1].kept_step == 1
    assert same_weights(load_model(trainer.model_path).model.state_dict(), trainer.task.weights[1])


def test_patience_is_checked():
    for bad in (-1, 1.5):
        try:
            TrainSettings(patience=bad).validate()
        except ValueError as exc:
            assert "patience" in str(exc) and exc.code == "train.invalid_settings"
        else:
            raise AssertionError(f"patience={bad} accepted")


def test_the_cli_says_where_it_stopped_and_which_step_it_kept():
    from pocketllm.cli.finetune import _end_lines
    end = {"kind": "finished", "step": 120, "stopped_early": True, "kept_step": 60,
           "best_val": {"loss": 0.08123, "accuracy": 0.975, "bits_per_char": 1.0}}
    assert _end_lines(end, "m.safetensors") == [
        "stopped early at step 120; kept the weights of step 60 (the best validation score during training)",
        "checkpoint m.safetensors"]  # its scores, on the whole splits, come from the task's finish
    assert _end_lines({"kind": "finished", "step": 5}, "m.safetensors")[0] == "finished at step 5"
