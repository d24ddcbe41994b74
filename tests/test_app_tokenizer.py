"""The tokenizer a model is trained with, through the app's API (gradio_client): the
Pretrain tab learns a bpe or char vocabulary from the corpus, previews it, sizes the model
with it and stores it in the checkpoint; Generate and Look inside read and write with the
checkpoint's own tokenizer and never show half a character; the loss can be read in bits
per character."""
from __future__ import annotations

import json

import pytest

from pocketllm import load_model, read_header
from tests.app_fixtures import app, corpus_file, refusal, wait_for  # noqa: F401  (fixtures)
from tests.test_app_client import form_values

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

TINY = ("custom", 1, 2, 32, 32, 0.0)  # preset, layers, heads, width, context, dropout
PROMPT = "学而时习之，The quick"


@pytest.fixture(scope="module")
def client(app, corpus_file):
    c = Client(app[0], verbose=False)
    assert c.predict(handle_file(str(corpus_file)), "en", api_name="/pretrain_upload") == "upload"
    return c


def train(client, state, tokenizer, vocab, steps=6):
    """A few steps of a tiny model on the uploaded corpus; returns the finished job."""
    state.runner.wait(120)
    status = client.predict("upload", tokenizer, vocab, *TINY, steps, 4, 2e-3, 3, 0, 0, "fp32", "en",
                            api_name="/pretrain_start")
    assert "Training" in status, status
    job = state.runner.current or state.runner.last
    state.runner.wait(120)
    assert job.status == "finished", job.status
    return job


@pytest.fixture(scope="module")
def bpe_model(client, app):
    return train(client, app[1], "bpe", 300).model_path


@pytest.fixture(scope="module")
def char_model(client, app):
    return train(client, app[1], "char", None).model_path


def test_preview_shows_the_tokenizer_and_sizes_the_model(client):
    bpe_md, bpe_html = client.predict("upload", 32, "bpe", 300, "en", api_name="/pretrain_preview")
    char_md, char_html = client.predict("upload", 32, "char", None, "en", api_name="/pretrain_preview")
    gpt2_md, gpt2_html = client.predict("upload", 32, "gpt2", 4000, "en", api_name="/pretrain_preview")
    for html in (bpe_html, char_html, gpt2_html):
        assert "class='pl-tok'" in html and "Most used" in html
    assert "Longest tokens" in bpe_html and "Longest tokens" in gpt2_html
    assert "Longest tokens" not in char_html  # every token one character long: nothing to show
    assert "300 tokens" in bpe_html and "BPE" in bpe_html
    assert "1.00 tokens per character" in char_html and "Character tokenizer" in char_html
    assert "50,257 tokens" in gpt2_html  # gpt2's fixed size, whatever the box says

    def per_char(md):
        return float(md.split("(")[1].split(" per character")[0])
    assert per_char(bpe_md) < per_char(char_md) == 1.0  # merges: fewer tokens than characters
    # GPT-2 spends ~2 tokens on a Chinese character: dashed boxes, and a line saying how many pieces.
    assert "dashed" in gpt2_html and "pieces of a character" in gpt2_html

    # The parameter count follows the tokenizer's vocabulary (embedding and output head rows).
    facts = {kind: client.predict(*TINY, 4, "upload", kind, vocab, "en", api_name="/pretrain_facts")
             for kind, vocab in (("bpe", 300), ("gpt2", None))}
    assert "vocabulary 300 tokens" in facts["bpe"] and "vocabulary 50,257 tokens" in facts["gpt2"]
    params = {k: int(v.split("**")[1].replace(",", "")) for k, v in facts.items()}
    assert params["gpt2"] - params["bpe"] >= 32 * (50257 - 300)  # at least one 32-wide row per token


def test_a_bad_vocabulary_size_is_refused_before_a_run(client, app):
    state = app[1]
    state.runner.wait(120)
    before = state.runner.last
    md, html = client.predict("upload", 32, "bpe", 100, "en", api_name="/pretrain_preview")
    assert "258" in md and html == ""
    assert "258" in refusal(lambda: client.predict("upload", "bpe", 100, *TINY, 5, 4, 1e-3, 0, 0, 0, "fp32", "en",
                                                   api_name="/pretrain_start"))
    assert state.runner.last is before  # nothing started


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_the_checkpoint_carries_the_chosen_tokenizer(kind, request):
    path = request.getfixturevalue(f"{kind}_model")
    header = read_header(path)
    assert header["tokenizer"] == kind
    ckpt = load_model(path)
    assert ckpt.tokenizer.kind == kind and ckpt.config.vocab_size == ckpt.tokenizer.vocab_size
    assert ckpt.tokenizer.vocab_size < 50257
    if kind == "bpe":
        assert ckpt.tokenizer.vocab_size <= 300
    run = json.loads((path.parent / "run.json").read_text())
    assert run["tokenizer"] == kind and run["vocab_size"] == ckpt.tokenizer.vocab_size


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_generation_writes_whole_characters(client, kind, request):
    path = str(request.getfixturevalue(f"{kind}_model"))
    client.predict(None, api_name="/generate_models")
    for seed in (1, 2, 3):
        text, note = client.predict(path, PROMPT, 1.5, 0, 1.0, 60, seed, "en", "fp32", True, api_name="/generate")
        assert text and "\ufffd" not in text
        assert f"({kind} tokenizer)" in note
    # The count is of the model's own tokens: a char model writes one per character.
    if kind == "char":
        text, note = client.predict(path, PROMPT, 0.0, 0, 1.0, 20, 1, "en", "fp32", True, api_name="/generate")
        assert f"Generated {len(load_model(path).tokenizer.encode(text))} tokens" in note


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_look_inside_uses_the_models_tokens_and_marks_the_utf8_rule(client, kind, request):
    path = str(request.getfixturevalue(f"{kind}_model"))
    client.predict(None, api_name="/generate_models")
    out = client.predict(path, PROMPT, 1.0, 0, 1.0, 1, 0, "en", True, api_name="/look_inside")
    strip, note, next_plot, next_note, *_ = out
    n = len(load_model(path).tokenizer.encode(PROMPT))
    assert f">{n} tokens;" in strip  # the prompt as the model's own tokens
    if kind == "char":  # one token per character: every character whole, none split
        assert n == len(PROMPT) and "dashed" not in strip.split("pl-strip-note")[0]
    # Byte tokens (pieces of a character) are removed from what sampling draws from, and said so.
    assert "start with half a character were removed" in next_note
    fig = json.loads(next_plot["plot"])
    for label, after in zip(fig["data"][0]["y"], fig["data"][1]["x"]):
        if label.endswith("⊘"):
            assert after == 0
    # Rule off: nothing removed by it, and the note says broken characters may show.
    off_plot, off_note = client.predict(path, PROMPT, 1.0, 0, 1.0, "en", False, api_name="/next_token")
    assert "Broken characters are allowed" in off_note
    assert not any(label.endswith("⊘") for label in json.loads(off_plot["plot"])["data"][0]["y"])
    zh = client.predict(path, PROMPT, 1.0, 0, 1.0, "zh", True, api_name="/next_token")[1]
    assert "半个字符" in zh


def test_loss_in_bits_per_character_and_the_form_follows_the_run(client, app, char_model):
    run_dir = char_model.parent
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    bits = [e["val_bits_per_char"] for e in events if e["kind"] == "eval"]
    assert bits and all(b is not None and b > 0 for b in bits)
    fresh = Client(app[0], verbose=False)  # a new page: it shows the newest run, and that run's tokenizer

    def polled():
        out = fresh.predict("en", "bits", api_name="/pretrain_poll")
        return out if out[1] else None
    plot, stats, samples, download, status, *form = wait_for(polled, timeout=20)
    form = form_values(form)
    assert form["tokenizer"] == "char" and form["vocab_size"] == load_model(char_model).tokenizer.vocab_size
    assert form["source"] == "upload" and form["context"] == 32 and form["steps"] == 6
    fig = json.loads(plot["plot"])
    val = [tr for tr in fig["data"] if "validation" in tr["name"]]
    assert val and val[0]["y"] == pytest.approx(bits)
    assert "bits per character" in json.dumps(fig["layout"]["yaxis"])


def test_the_next_token_chart_marks_what_the_utf8_rule_removed():
    """A candidate the valid-UTF-8 rule removed is drawn apart from one top-k cut (⊘, purple,
    its own hover text), and the line under the chart says how much the rule removed."""
    from types import SimpleNamespace as NS
    from pocketllm import Sampling
    from ui import plots

    def cand(rank, label, prob, after, cut_by):
        return NS(rank=rank, label=label, prob=prob, prob_after=after, kept=cut_by is None, cut_by=cut_by)
    nt = NS(candidates=[cand(1, "的", 0.5, 0.7, None), cand(2, "<e5 ad>", 0.3, 0.0, "utf8"),
                        cand(3, "了", 0.2, 0.0, "top_k")],
            kept_tokens=1, kept_mass=0.5, entropy=1.5, entropy_after=0.0, sampling=Sampling(temperature=1.0),
            utf8_removed=64, utf8_removed_mass=0.3)
    fig = plots.next_token_figure(nt, "en")
    labels, colors = fig.data[0].y, fig.data[0].marker.color
    assert labels[1].endswith("⊘") and labels[2].endswith("✂") and not labels[0].endswith(("⊘", "✂"))
    assert colors[1] == plots.PURPLE and colors[2] == plots.RED
    assert "half a character" in fig.data[0].hovertext[1]
    assert plots.next_token_note(nt, "en").startswith("⊘ 64 tokens that would start with half a character were "
                                                      "removed (30.0% of the probability)")
    assert "64" in plots.next_token_note(nt, "zh") and "30.0%" in plots.next_token_note(nt, "zh")
    broken = Sampling(temperature=1.0, valid_utf8=False)
    assert "Broken characters" in plots.next_token_note(NS(**{**vars(nt), "sampling": broken}), "en")
    # the legend names each colour: red (a filter cut it) and purple (half a character)
    assert [tr.name for tr in fig.data[2:]] == ["cut by a filter (✂)", "removed: half a character (⊘)"]


def test_the_preview_tokenizer_is_learned_once_per_corpus_kind_and_size(tmp_path, monkeypatch):
    """Moving the model sliders re-reads the preview; the tokenizer is not learned again."""
    import ui.state
    from tests.app_fixtures import TINY_TEXT
    corpus = tmp_path / "c.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    calls = []
    real = ui.state.train_corpus_tokenizer
    monkeypatch.setattr(ui.state, "train_corpus_tokenizer", lambda *a: calls.append(a) or real(*a))
    cache = ui.state.TokenizerCache(size=2)
    a, _ = cache.get(corpus, "bpe", 300)
    assert cache.get(corpus, "bpe", 300)[0] is a and len(calls) == 1
    cache.get(corpus, "char", None)
    assert len(calls) == 2
    corpus.write_text(TINY_TEXT + "more", encoding="utf-8")  # the file changed: learned again
    import os
    os.utime(corpus, ns=(1, 1))
    assert cache.get(corpus, "bpe", 300)[0] is not a and len(calls) == 3


def test_a_finished_run_continues_for_more_steps_from_the_page(client, app, char_model):
    """The page continues the run it shows — finished too, as `--resume --max_steps` does — to the
    steps set in the form; no further than the run already is."""
    state = app[1]
    state.runner.wait(120)
    run_dir = char_model.parent
    fresh = Client(app[0], verbose=False)  # a page that shows the newest run: this one

    def shown():
        out = fresh.predict("en", "nats", api_name="/pretrain_poll")
        return out if run_dir.name in out[4] else None
    status = wait_for(shown, timeout=20)[4]
    assert "finished" in status and "Continue this run" in status
    assert "at step 6" in refusal(lambda: fresh.predict(6, "en", api_name="/pretrain_resume"))
    status, *form = fresh.predict(9, "en", api_name="/pretrain_resume")
    assert run_dir.name in status and "Training" in status
    state.runner.wait(120)
    ends = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert ends[-1]["kind"] == "finished" and ends[-1]["step"] == 9
    assert read_header(char_model)["tokenizer"] == "char"  # the same model, on in the same file

    def offered():
        out = fresh.predict("en", "nats", api_name="/pretrain_poll")
        return out if "at step 9" in out[4] else None
    download = wait_for(offered, timeout=20)[3]
    value = download.get("value", download) if isinstance(download, dict) else download
    assert str(value.get("path") if isinstance(value, dict) else value).endswith(f"{run_dir.name}-step9.safetensors")


def test_the_command_line_is_the_cores_and_repeats_the_run(client):
    """The box's command is the core's `to_argv` of the settings Start would use (one flag a line)."""
    longest = 128  # cpu-tiny's position table
    form = ["shakespeare", "bpe", 300, "cpu-tiny", 2, 4, 128, longest // 2, 0.0, 100, 8, 1e-3, 25, 50, 123, "auto"]
    cmd = client.predict(*form, "en", api_name="/pretrain_command")
    # The page evaluates as the CLI does (it used to take fewer batches: another run than the CLI's).
    assert cmd.startswith("python -m pocketllm pretrain \\\n") and "--eval_batches" not in cmd
    assert f"--context_length {longest // 2}" in cmd and "--tokenizer bpe \\\n  --vocab_size 300" in cmd
    gpt2 = client.predict(*form[:1], "gpt2", *form[2:], "en", api_name="/pretrain_command")
    assert "--tokenizer gpt2" in gpt2 and "--vocab_size" not in gpt2  # a fixed vocabulary
    char = client.predict(*form[:1], "char", None, *form[3:], "en", api_name="/pretrain_command")
    assert "--tokenizer char" in char and "--vocab_size" not in char  # every character
    assert "Fix the settings" in client.predict(*form[:9], -5, *form[10:], "en", api_name="/pretrain_command")
    assert "请先改正" in client.predict(*form[:9], -5, *form[10:], "zh", api_name="/pretrain_command")
