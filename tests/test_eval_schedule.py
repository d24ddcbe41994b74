"""The default run's evaluation reads a fixed slice of the split (TrainSettings.eval_batches
batches); its loss must stay within 2% of evaluating the whole split, on the bundled corpus,
for a model that has learned something (an untrained model scores ln(vocab) everywhere).
The slice is spread evenly over the split: its first windows alone scored 4.6% off."""
from pathlib import Path

import torch

from pocketllm.data.corpus import load_corpus
from pocketllm.tasks.language_modeling import LanguageModelingTask
from pocketllm.tokenizer.trained import train_tokenizer
from pocketllm.training.trainer import TrainSettings
from pocketllm import GPTModel, ModelConfig

CORPUS = Path(__file__).resolve().parent.parent / "data" / "pretrain" / "shakespeare.txt"


def test_default_eval_batches_give_the_whole_splits_loss_within_two_percent(tmp_path):
    tok = train_tokenizer([CORPUS.read_text()], "char")
    corpus = load_corpus(CORPUS, 64, tmp_path, tok)
    task = LanguageModelingTask(corpus)
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(vocab_size=tok.vocab_size, context_length=64, emb_dim=64, num_heads=4,
                                 num_layers=2, drop_rate=0.0))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(80):
        batch = task.make_batch(torch.randint(0, task.num_train_examples(), (8,)).tolist(), "cpu")
        loss, _ = task.loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    whole = len(corpus.val) // task.eval_batch_size + 1
    with torch.no_grad():
        cheap = task.evaluate(model, "val", TrainSettings().eval_batches, "cpu")["loss"]
        full = task.evaluate(model, "val", whole, "cpu")["loss"]
        untrained = task.evaluate(GPTModel(model.cfg).eval(), "val", 1, "cpu")["loss"]
    assert TrainSettings().eval_batches * task.eval_batch_size < len(corpus.val) / 5  # really cheaper
    assert full < 0.8 * untrained  # it learned, so the comparison means something
    assert abs(cheap - full) / full < 0.02, (cheap, full)
