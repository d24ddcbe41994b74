"""The training loop: learning, evaluation, determinism, stop/resume, events, schedule."""
import json
import math
import random
from pathlib import Path

import pytest
import torch

from pocketllm.errors import PocketLLMError
from pocketllm.tasks.language_modeling import LanguageModelingTask, PretrainSettings, prepare_pretraining
from pocketllm.training import (Step, event_from_dict, learning_rate, make_optimizer, read_events,
                                TrainSettings)
from pocketllm.training.head_loss import linear_cross_entropy

WORDS = "the cat dog sat ran on under a mat log and then slept ate fish bread".split()


def write_corpus(path, words=3000, seed=0):
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))) + "." for _ in range(words // 6)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_config(path, drop_rate=0.0, context_length=32):
    path.write_text(json.dumps(dict(vocab_size=50257, context_length=context_length, emb_dim=32,
                                    num_heads=4, num_layers=2, drop_rate=drop_rate, qkv_bias=True)))
    return path


def settings(tmp_path, name="run", drop_rate=0.0, context_length=16, **train):
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        write_corpus(corpus)
    base = dict(max_steps=6, batch_size=2, lr=5e-3, eval_every=0, sample_every=0, device="cpu",
                dtype="fp32", threads=1, warmup_steps=1)
    base.update(train)
    return PretrainSettings(data_path=str(corpus), config=str(write_config(tmp_path / "tiny.json", drop_rate)),
                            context_length=context_length, run_dir=str(tmp_path / name),
                            sample_prompt="the cat", train=TrainSettings(**base))


def run_all(trainer, on_event=None):
    events = []
    for event in trainer.run():
        events.append(event)
        if on_event:
            on_event(trainer, event)
    return events


def losses(events):
    return [e.train_loss for e in events if isinstance(e, Step)]


def test_loss_falls_within_a_few_dozen_steps(tmp_path):
    events = run_all(prepare_pretraining(settings(tmp_path, max_steps=20, batch_size=4, lr=1e-2)))
    curve = losses(events)
    assert len(curve) == 20
    assert sum(curve[-3:]) / 3 < sum(curve[:3]) / 3 - 1.5, curve
    assert events[-1].kind == "finished"


class RecordingTask(LanguageModelingTask):
    """Records the autograd and train/eval state the loop hands to the task."""

    def __init__(self, inner):
        super().__init__(inner.corpus, inner.sample_prompt)
        self.seen = []

    def evaluate(self, model, split, max_batches, device):
        self.seen.append(("evaluate", torch.is_grad_enabled(), model.training))
        return super().evaluate(model, split, max_batches, device)

    def loss(self, model, batch):
        self.seen.append(("loss", torch.is_grad_enabled(), model.training))
        return super().loss(model, batch)


def test_evaluation_runs_without_gradients_in_eval_mode_then_back_to_train(tmp_path):
    trainer = prepare_pretraining(settings(tmp_path, max_steps=4, eval_every=2, eval_batches=1))
    trainer.task = RecordingTask(trainer.task)
    events = run_all(trainer)
    evals = [e for e in events if e.kind == "eval"]
    assert [e.step for e in evals] == [2, 4]
    assert math.isfinite(evals[0].val["loss"]) and evals[0].val["perplexity"] > 1
    seen = trainer.task.seen
    assert {s[1:] for s in seen if s[0] == "evaluate"} == {(False, False)}
    assert {s[1:] for s in seen if s[0] == "loss"} == {(True, True)}
    assert [s[0] for s in seen].index("evaluate") < len(seen) - 3  # training went on after evaluating
    assert trainer.model.training


def test_same_seed_same_losses_other_seed_other_losses(tmp_path):
    a = losses(run_all(prepare_pretraining(settings(tmp_path, "a", drop_rate=0.1, seed=7, max_steps=4))))
    b = losses(run_all(prepare_pretraining(settings(tmp_path, "b", drop_rate=0.1, seed=7, max_steps=4))))
    c = losses(run_all(prepare_pretraining(settings(tmp_path, "c", drop_rate=0.1, seed=8, max_steps=4))))
    assert a == b
    assert a != c


def test_stop_saves_and_resume_continues_the_same_curve(tmp_path):
    # Dropout on: the resumed run only matches if the random state is restored too.
    full = losses(run_all(prepare_pretraining(settings(tmp_path, "full", drop_rate=0.1, max_steps=8))))

    def stop_at_3(trainer, event):
        if isinstance(event, Step) and event.step == 3:
            trainer.stop_event.set()

    first = prepare_pretraining(settings(tmp_path, "part", drop_rate=0.1, max_steps=8))
    events = run_all(first, stop_at_3)
    assert events[-1].kind == "stopped" and events[-1].step == 3  # ended within one step
    assert events[-2].kind == "checkpoint" and first.model_path.is_file()
    assert (first.run_dir / "train_state.pt").is_file()

    resume = settings(tmp_path, "part", drop_rate=0.1, max_steps=None)
    resume.resume, resume.run_dir = str(first.model_path), None
    second = prepare_pretraining(resume)
    rest = run_all(second)
    assert rest[0].kind == "started" and rest[0].start_step == 3
    assert [e.step for e in rest if isinstance(e, Step)] == [4, 5, 6, 7, 8]
    assert losses(events) == pytest.approx(full[:3], abs=1e-6)
    assert losses(rest) == pytest.approx(full[3:], abs=1e-4)
    assert rest[-1].kind == "finished"


def test_events_jsonl_is_written_and_round_trips(tmp_path):
    trainer = prepare_pretraining(settings(tmp_path, max_steps=2, eval_every=2, sample_every=2))
    events = run_all(trainer)
    path = trainer.run_dir / "events.jsonl"
    records = read_events(path)
    assert [r["kind"] for r in records] == [e.kind for e in events]
    # snapshots (a small model keeps them) at steps 0 and 2; probes before training and at each evaluation
    assert [r["kind"] for r in records] == ["started", "snapshot", "probe", "step", "step", "eval", "probe", "sample",
                                            "snapshot", "checkpoint", "finished"]
    for record, event in zip(records, events):
        assert event_from_dict(record) == event_from_dict(event.to_dict())
        assert event_from_dict(record).to_dict() == record
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"kind": "step", "ti')  # a writer caught mid-line
    assert len(read_events(path)) == len(records)


def test_schedule_warms_up_linearly_then_cosine_to_the_floor():
    lr = [learning_rate(s, 100, 1.0, 10, 0.1) for s in range(100)]
    assert lr[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lr[10] == pytest.approx(1.0)
    assert lr[55] == pytest.approx(0.55)  # halfway through the decay: midway between max and min
    assert all(x >= y for x, y in zip(lr[10:], lr[11:]))
    assert learning_rate(100, 100, 1.0, 10, 0.1) == pytest.approx(0.1)
    assert learning_rate(500, 100, 1.0, 10, 0.1) == pytest.approx(0.1)


def test_weight_decay_only_on_matrices(tiny_model):
    opt = make_optimizer(tiny_model, 1e-3, 0.1, torch.device("cpu"))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(tiny_model.parameters()))
    assert any(p is tiny_model.final_norm.weight for p in no_decay["params"])


def test_gradient_accumulation_matches_the_bigger_batch(tmp_path):
    small = run_all(prepare_pretraining(settings(tmp_path, "accum", batch_size=2, grad_accum=2, max_steps=3)))
    big = run_all(prepare_pretraining(settings(tmp_path, "big", batch_size=4, max_steps=3)))
    steps_small = [e for e in small if isinstance(e, Step)]
    steps_big = [e for e in big if isinstance(e, Step)]
    assert [e.train_loss for e in steps_small] == pytest.approx([e.train_loss for e in steps_big], abs=1e-5)
    assert [e.grad_norm for e in steps_small] == pytest.approx([e.grad_norm for e in steps_big], rel=1e-4)
    assert steps_small[-1].tokens_seen == steps_big[-1].tokens_seen == 3 * 4 * 16


@pytest.mark.parametrize("autocast", [False, True])
def test_fused_head_loss_matches_plain_cross_entropy(autocast):
    torch.manual_seed(0)
    h = torch.randn(2, 37, 16, requires_grad=True)
    w = (torch.randn(101, 16) * 0.5).requires_grad_()
    y = torch.randint(0, 101, (2, 37))
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
    with ctx:
        ref = torch.nn.functional.cross_entropy((h @ w.t()).float().flatten(0, 1), y.flatten())
    ref.backward()
    ref_grads = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    with ctx:
        fused = linear_cross_entropy(h, w, y, chunk_rows=10)  # several chunks, a ragged last one
    (2 * fused).backward()
    tol = 2e-2 if autocast else 1e-5
    assert fused.item() == pytest.approx(ref.item(), rel=tol / 10)
    assert torch.allclose(h.grad, 2 * ref_grads[0], atol=tol * ref_grads[0].abs().max())
    assert torch.allclose(w.grad, 2 * ref_grads[1], atol=tol * ref_grads[1].abs().max())


@pytest.mark.parametrize("change, words", [
    (dict(lr=-1e-3), "lr"), (dict(lr=float("nan")), "lr"), (dict(batch_size=0), "batch_size"),
    (dict(epochs=0), "epochs"), (dict(grad_accum=0), "grad_accum"), (dict(max_steps=0), "max_steps"),
    (dict(eval_every=-1), "eval_every"), (dict(threads=-2), "threads"),
])
def test_nonsense_hyperparameters_are_refused_with_the_setting_named(tmp_path, change, words):
    with pytest.raises(PocketLLMError, match=words):
        prepare_pretraining(settings(tmp_path, **change))
    assert not (tmp_path / "run").exists()  # nothing was started


def test_a_batch_bigger_than_the_data_says_so(tmp_path):
    s = settings(tmp_path, batch_size=10_000)
    with pytest.raises(PocketLLMError, match="batch_size"):
        prepare_pretraining(s)  # refused before the run starts: nothing is written
    assert not Path(s.run_dir).exists()


def test_fused_head_loss_stays_accurate_when_the_model_is_sure():
    """Confident targets (p ≈ 1): bf16 gradients as good as plain autocast's, measured against fp32."""
    torch.manual_seed(0)
    h = torch.randn(256, 32, requires_grad=True)
    w = (torch.randn(3000, 32) * 0.4).requires_grad_()
    y = (h @ w.t()).argmax(-1)

    def grad_of(fn, autocast):
        h.grad = w.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            fn().backward()
        return h.grad.clone()
    plain = lambda: torch.nn.functional.cross_entropy((h @ w.t()).float(), y)
    exact = grad_of(plain, False)
    err_autocast = (grad_of(plain, True) - exact).norm() / exact.norm()
    err_fused = (grad_of(lambda: linear_cross_entropy(h, w, y, 64), True) - exact).norm() / exact.norm()
    assert err_fused < 1.5 * err_autocast + 1e-4


def test_a_failed_run_records_the_errors_code_and_values(tmp_path):
    trainer = prepare_pretraining(settings(tmp_path, max_steps=3))
    inner_loss = trainer.task.loss
    trainer.task.loss = lambda model, batch: (inner_loss(model, batch)[0] * float("nan"), {})
    with pytest.raises(PocketLLMError) as caught:
        run_all(trainer)
    assert caught.value.code == "train.diverged"
    failed = read_events(trainer.run_dir / "events.jsonl")[-1]
    assert failed["kind"] == "failed" and failed["code"] == "train.diverged"
    assert failed["values"]["step"] == 0 and failed["message"] == str(caught.value)
