"""Watching a model learn: snapshots along a run, probes at every evaluation, the timeline in the
CLI, and the report card of a finished run."""
from __future__ import annotations

import json

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, delete_run, load_model, read_run
from pocketllm.cli import main
from pocketllm.probes import (_uniform_score, induction_probe, induction_scores, phase_change, repeated_sequences,
                              timeline)
from pocketllm.report_card import card_lines, repetition
from pocketllm.training.snapshots import (SnapshotWriter, existing_snapshots, load_snapshot, log_spaced_steps,
                                          plan_steps, snapshot_bytes)
from tests.test_pretrain_cli import files  # noqa: F401  (the fixture: a small corpus and a tiny config)


def pretrain(tmp, *extra, steps=60):
    return main(["pretrain", "--config", str(tmp / "tiny.json"), "--data_path", str(tmp / "corpus.txt"),
                 "--tokenizer", "char", "--run_dir", str(tmp / "run"), "--max_steps", str(steps),
                 "--batch_size", "2", "--context_length", "32", "--eval_every", "20", "--eval_batches", "1",
                 "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet", *extra])


# ---- the plan ------------------------------------------------------------------------

def test_snapshot_steps_are_log_spaced_and_capped():
    assert log_spaced_steps(400) == [0, 10, 20, 50, 100, 200, 400]
    assert log_spaced_steps(5000) == [0, 10, 20, 50, 100, 200, 400, 800, 1600, 3200, 5000]
    assert log_spaced_steps(7) == [0, 7]
    by_count = plan_steps(5000, bytes_each=1000, max_count=5)
    assert len(by_count) == 5 and by_count[0] == 0 and by_count[-1] == 5000
    by_bytes = plan_steps(5000, bytes_each=1000, max_count=100, max_bytes=3500)
    assert len(by_bytes) == 3 and by_bytes[0] == 0 and by_bytes[-1] == 5000
    assert plan_steps(5000, bytes_each=10_000, max_bytes=5000) == []


def test_the_writer_never_passes_its_cap(tmp_path):
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(vocab_size=64, context_length=16, emb_dim=16, num_heads=2, num_layers=1,
                                 drop_rate=0.0, qkv_bias=True))
    each = snapshot_bytes(model)
    writer = SnapshotWriter(tmp_path, model, total_steps=400, task={"type": "pretrain"}, max_count=3,
                            max_bytes=100 * each)
    assert writer.plan.steps == [0, 50, 400]  # thinned evenly, the first and the last kept
    kept = [s for s in range(401) if writer.write(model, s, s * 10)]
    assert kept == [0, 50, 400]
    # a resumed run with a longer plan: the cap still holds
    longer = SnapshotWriter(tmp_path, model, total_steps=1600, task={"type": "pretrain"}, max_count=3,
                            max_bytes=100 * each)
    assert not any(longer.write(model, s, 0) for s in longer.plan.steps)
    assert [s for s, _ in existing_snapshots(tmp_path)] == [0, 50, 400]
    snap = load_snapshot(tmp_path, 50)
    assert snap.model.tok_emb.weight.dtype == torch.float32
    assert torch.allclose(snap.model.tok_emb.weight, model.tok_emb.weight, atol=1e-2)  # bf16 on disk


# ---- induction -------------------------------------------------------------------------

def test_induction_score_of_a_constructed_induction_head_is_high_and_of_even_attention_low():
    length, batch, heads = 10, 2, 3
    t = 1 + 2 * length
    even = torch.tril(torch.ones(t, t))
    even = (even / even.sum(-1, keepdim=True)).expand(batch, heads, t, t).clone()
    induction = even.clone()
    for i in range(1 + length, t):  # head 1 (0-based) looks at the token after the earlier occurrence
        induction[:, 1, i] = 0
        induction[:, 1, i, i - length + 1] = 1
    scores = induction_scores([even, induction], length)
    assert scores[1][1] == pytest.approx(1.0)
    assert max(scores[0]) == pytest.approx(_uniform_score(length)) and max(scores[0]) < 0.1
    assert scores[1][0] < 0.1 and scores[1][2] < 0.1


def test_a_random_model_has_no_induction_head(tiny_model):
    ids, length = repeated_sequences(50257, 32)
    assert ids.shape == (8, 1 + 2 * length) and torch.equal(ids[:, 1:1 + length], ids[:, 1 + length:])
    record = induction_probe(tiny_model)
    assert len(record["scores"]) == 2 and len(record["scores"][0]) == 4
    assert record["best"] < 0.15
    # nothing to copy from yet: the second repeat is as hard as the first
    assert abs(record["loss_second"] - record["loss_first"]) < 0.5


def test_phase_change_is_the_first_probe_whose_repeat_loss_halves():
    probes = [{"step": s, "induction": {"loss_first": 7.0, "loss_second": second, "best": b}}
              for s, second, b in ((0, 7.0, 0.02), (100, 6.0, 0.05), (200, 2.0, 0.6), (400, 1.0, 0.8))]
    assert phase_change(probes)["step"] == 200
    assert phase_change(probes[:2]) is None


# ---- the report card -----------------------------------------------------------------

def test_repetition_is_one_for_a_looping_sample_and_low_for_varied_text():
    assert repetition("the cat sat on the mat. " * 12)["repeated_4grams"] == 1.0
    assert repetition("的的的的的的的的的的的的")["repeated_4grams"] == 1.0
    varied = ("The river ran high that spring, and the mill by the old bridge stood idle for a month. Children "
              "walked to school along the ridge instead, past orchards where nobody had pruned the trees, and "
              "their teacher, a patient woman from the coast, read them stories about ships.")
    figures = repetition(varied)
    assert figures["repeated_4grams"] < 0.1 and figures["distinct_2"] > 0.9
    prose = "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？人不知而不愠，不亦君子乎？"
    assert repetition(prose)["repeated_4grams"] < 0.3
    assert repetition("the cat sat on the mat. " * 12)["distinct_2"] < 0.3


# ---- a whole run -----------------------------------------------------------------------

def test_a_run_keeps_snapshots_probes_and_a_report_card_and_is_removed_whole(files, capsys):
    assert pretrain(files) == 0
    run = files / "run"
    assert [s for s, _ in existing_snapshots(run)] == [0, 10, 20, 50, 60]
    view = read_run(run)
    assert [e["step"] for e in view.of_kind("snapshot")] == [0, 10, 20, 50, 60]
    assert view.snapshot_steps == [0, 10, 20, 50, 60]
    # probes: one before training and one at each evaluation, read back from events.jsonl
    probes = view.probes
    assert [p["step"] for p in probes] == [0, 20, 40, 60]
    for p in probes:
        assert not p["error"]
        assert len(p["prompts"]) == 3 and all(len(q["top"]) == 5 for q in p["prompts"])
        assert all(0 <= q["true_prob"] <= 1 and q["entropy"] > 0 for q in p["prompts"])
        assert len(p["induction"]["scores"]) == 2 and "loss_second" in p["induction"]
    assert probes[-1]["entropy"] < probes[0]["entropy"]  # the guesses sharpen
    assert [p["step"] for p in timeline(view.events)] == [0, 20, 40, 60]
    # the report card: in the results and in the checkpoint's facts
    card = view.results["report_card"]
    ckpt = load_model(run / "model.safetensors")
    assert ckpt.facts["report_card"] == card
    assert card["val_bits_per_char"] > 0 and 0 <= card["repeated_4grams"] <= 1 and card["samples"] == 4
    assert any("bits per character" in line for line in card_lines(card))
    # a snapshot is a model: step 0 guesses evenly, the last one as the checkpoint does
    first, last = load_snapshot(run, 0), load_snapshot(run, 60)
    ids = torch.tensor([ckpt.tokenizer.encode("the cat sat")])
    assert torch.allclose(last.model(ids), ckpt.model(ids), atol=0.1)
    assert not torch.allclose(first.model(ids), ckpt.model(ids), atol=0.1)
    # the CLI timeline
    capsys.readouterr()
    assert main(["inspect", "--run", str(run), "--what", "next", "--steps", "all", "--prompt", "the c"]) == 0
    out = capsys.readouterr().out
    table = out.split("== probes")[0]
    assert [line.split()[0] for line in table.splitlines()[3:] if line.strip()] == ["0", "10", "20", "50", "60"]
    assert "induction" in out
    # the card in `info` and `runs --compare`
    assert main(["info", "--model_path", str(run / "model.safetensors")]) == 0
    assert "held-out bits per character" in capsys.readouterr().out
    assert main(["runs", "--compare", str(run), "--html", str(files / "compare.html")]) == 0
    out = capsys.readouterr().out
    assert "card: bits/char" in out and "card: repeated 4-grams" in out
    # the run folder goes whole, snapshots and all
    delete_run(files, run)
    assert not run.exists()


def test_snapshots_can_be_turned_off_and_the_flag_is_printed(files):
    from pocketllm import PretrainSettings, TrainSettings, to_argv
    assert pretrain(files, "--no-snapshots", steps=10) == 0
    assert existing_snapshots(files / "run") == []
    assert json.loads((files / "run" / "run.json").read_text())["train"]["snapshots"] is False
    assert "--no-snapshots" in to_argv(PretrainSettings(train=TrainSettings(snapshots=False)))
    assert "--snapshots" in to_argv(PretrainSettings(train=TrainSettings(snapshots=True)))
    assert not any("snapshots" in w for w in to_argv(PretrainSettings()))
    with pytest.raises(Exception, match="snapshots"):
        TrainSettings(snapshots="yes").validate()


def hand_built_induction_model(vocab: int = 16, context: int = 32) -> GPTModel:
    """Two one-head blocks wired by hand (Olsson et al.'s circuit): block 1's head looks at the
    previous position and copies its token into a "previous token" slot; block 2's head matches the
    current token against that slot, so it looks at the token after the earlier occurrence.
    Residual stream: [token one-hot | position one-hot | previous token one-hot]."""
    dim = vocab + context + vocab
    model = GPTModel(ModelConfig(vocab_size=vocab, context_length=context, emb_dim=dim, num_heads=1, num_layers=2,
                                 drop_rate=0.0, qkv_bias=True))
    tok, pos, prev = slice(0, vocab), slice(vocab, vocab + context), slice(vocab + context, dim)
    sharp = 30.0
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for norm in (b.norm1 for b in model.trf_blocks):
            norm.scale.fill_(1.0) if hasattr(norm, "scale") else norm.weight.fill_(1.0)
        model.tok_emb.weight[:, tok] = torch.eye(vocab)
        model.pos_emb.weight[:, pos] = torch.eye(context)
        first, second = model.trf_blocks[0].attn, model.trf_blocks[1].attn
        first.W_query.weight[pos, pos] = sharp * torch.eye(context)
        first.W_key.weight[pos, pos] = sharp * torch.eye(context).roll(1, dims=0)  # position j answers j + 1
        first.W_value.weight[prev, tok] = torch.eye(vocab)
        first.out_proj.weight[:, :] = torch.eye(dim)
        second.W_query.weight[tok, tok] = sharp * torch.eye(vocab)
        second.W_key.weight[tok, prev] = sharp * torch.eye(vocab)
    return model.eval()


def test_the_induction_score_of_a_hand_built_induction_head_is_high():
    record = induction_probe(hand_built_induction_model())
    assert record["best_layer"] == 2 and record["best"] > 0.9
    assert record["scores"][0][0] < 0.1  # the previous-token head is not an induction head
