"""Two CPU processes (gloo) train as one: the same weights, the loss of one process with the same global batch."""
import json
import os
import random
import socket

import pytest
import torch
import torch.multiprocessing as mp

from pocketllm.tasks.language_modeling import PretrainSettings, prepare_pretraining
from pocketllm.training import TrainSettings, read_events

WORDS = "the cat dog sat ran on under a mat log and then slept ate fish bread".split()


def _settings(tmp, run, batch_size):
    return PretrainSettings(
        data_path=str(tmp / "corpus.txt"), config=str(tmp / "tiny.json"), context_length=16,
        run_dir=str(tmp / run), sample_prompt="the",
        train=TrainSettings(max_steps=3, batch_size=batch_size, lr=5e-3, warmup_steps=1, eval_every=3,
                            eval_batches=1, sample_every=0, device="cpu", dtype="fp32", threads=1))


def _worker(rank, world, port, tmp):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from pocketllm.training.distributed import shutdown
    trainer = prepare_pretraining(_settings(tmp, "ddp", batch_size=2))
    for _ in trainer.run():
        pass
    torch.save(trainer.model.state_dict(), tmp / f"rank{rank}.pt")  # only rank 0 writes checkpoints
    shutdown()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    rng = random.Random(0)
    (tmp_path / "corpus.txt").write_text(
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(300)) + "\n",
        encoding="utf-8")
    (tmp_path / "tiny.json").write_text(json.dumps(dict(
        vocab_size=50257, context_length=32, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0,
        qkv_bias=True)))
    mp.spawn(_worker, args=(2, _free_port(), tmp_path), nprocs=2, join=True)

    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    assert all(torch.equal(w0[k], w1[k]) for k in w0)

    single = prepare_pretraining(_settings(tmp_path, "single", batch_size=4))
    one = [e.to_dict() for e in single.run()]
    two = read_events(tmp_path / "ddp" / "events.jsonl")
    assert [r["kind"] for r in two].count("started") == 1  # rank 0 alone writes events
    assert two[0]["world_size"] == 2
    steps = lambda rs: [r for r in rs if r["kind"] == "step"]
    assert [r["train_loss"] for r in steps(two)] == pytest.approx([r["train_loss"] for r in steps(one)], abs=1e-5)
    assert [r["tokens_seen"] for r in steps(two)] == [r["tokens_seen"] for r in steps(one)]
    val = lambda rs: [r["val"]["loss"] for r in rs if r["kind"] == "eval"]
    assert val(two) == pytest.approx(val(one), abs=1e-5)
    final = single.model.state_dict()
    assert all(torch.allclose(w0[k], final[k], atol=1e-5) for k in final)
    assert (tmp_path / "ddp" / "model.safetensors").is_file()


def test_each_rank_reads_its_own_part_of_the_global_batch(tmp_path):
    """Fast check of the data split the slow test relies on: ranks' batches tile one big batch."""
    from pocketllm.training.distributed import Dist
    rng = random.Random(0)
    (tmp_path / "corpus.txt").write_text(
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(300)) + "\n",
        encoding="utf-8")
    (tmp_path / "tiny.json").write_text(json.dumps(dict(
        vocab_size=50257, context_length=32, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0,
        qkv_bias=True)))
    single = prepare_pretraining(_settings(tmp_path, "one", batch_size=4))
    pair = prepare_pretraining(_settings(tmp_path, "two", batch_size=2))
    order = single._order(0)
    assert pair._order(0) == order  # every rank shuffles alike
    for step in range(3):
        whole = single._micro_indices(order, step, 0)
        parts = []
        for rank in range(2):
            pair.dist = Dist(rank, 2)
            parts.append(pair._micro_indices(order, step, 0))
        assert parts[0] + parts[1] == whole and not set(parts[0]) & set(parts[1])
    assert pair.examples_per_step == single.examples_per_step == 4
