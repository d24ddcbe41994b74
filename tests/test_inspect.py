"""pocketllm.inspect and `python -m pocketllm inspect` on tiny random models."""
import pytest
import torch

from pocketllm import EOT_ID, GPTModel, ModelConfig, PocketLLMError, Sampling, gpt2_tokenizer, load_model, \
    next_token_probs, save_checkpoint
from pocketllm import inspect as look
from pocketllm.cli import main
from pocketllm.cli.inspect import VIEWS, cells, table

PROMPT = "Hello world, 我爱你们"


def ids_of(model, text):
    return torch.tensor([gpt2_tokenizer().encode(text)], device=model.tok_emb.weight.device)


@torch.no_grad()
def logits_of(model, text):
    return model(ids_of(model, text))[0]


def close(x):
    """Equal up to float rounding (the full and last-position-only passes round differently)."""
    return pytest.approx(x, rel=1e-4, abs=1e-6)


@pytest.fixture
def peaked_model(tiny_model):
    """A random model with a sharp next-token distribution, so top-p has something to cut."""
    with torch.no_grad():
        tiny_model.final_norm.weight.mul_(40)
    return tiny_model


# ---- tokens ------------------------------------------------------------------

def test_tokens_group_byte_pieces_into_characters():
    prompt = "我爱你 hello, 世界🙂!"
    view = look.tokens(prompt, gpt2_tokenizer())
    tok = gpt2_tokenizer()
    assert view.ids == tok.encode(prompt)
    assert view.text == prompt
    assert [i for u in view.units for i in u.ids] == view.ids
    for unit in view.units:
        assert tok.decode(unit.ids) == unit.text  # each unit is whole characters
        assert all(view.tokens[i].unit == unit.index for i in unit.tokens)
    split = [u for u in view.units if u.partial]
    assert split, "GPT-2 splits some of these characters into byte pieces"
    for unit in split:
        assert len(unit.ids) > 1
        for k, i in enumerate(unit.tokens):
            t = view.tokens[i]
            assert t.partial and "\ufffd" in t.text
            assert t.label == f"{unit.label}({k + 1}/{len(unit.tokens)})"
            assert t.bytes == tok.token_bytes(t.id).hex(" ")
    hello = next(t for t in view.tokens if t.text == " hello")
    assert hello.label == "␣hello" and not hello.partial


def test_tokens_empty_and_context():
    empty = look.tokens("", gpt2_tokenizer())
    assert empty.ids == [] and empty.units == [] and empty.text == ""
    view = look.tokens(" a" * 40, gpt2_tokenizer(), context_length=32)
    assert len(view.ids) == 40 and view.dropped == 8


# ---- next token --------------------------------------------------------------

def test_next_token_probabilities_are_generations(peaked_model):
    model = peaked_model
    logits = logits_of(model, PROMPT)[-1]
    plain = torch.softmax(logits.float(), -1)
    res = look.next_token(model, PROMPT, Sampling(temperature=0.7, top_k=4, valid_utf8=False), n=12)
    after = next_token_probs(logits, Sampling(temperature=0.7, top_k=4))
    assert [c.id for c in res.candidates] == torch.topk(plain, 12).indices.tolist()
    for c in res.candidates:
        assert c.prob == close(float(plain[c.id]))
        assert c.prob_scaled == close(float(torch.softmax(logits / 0.7, -1)[c.id]))
        assert c.prob_after == close(float(after[c.id]))
        assert c.kept == (c.rank <= 4)
        assert c.cut_by == (None if c.rank <= 4 else "top_k")
    assert res.kept_tokens == 4
    assert sum(c.prob_after for c in res.candidates) == pytest.approx(1.0, abs=1e-5)
    assert res.other_prob_after == pytest.approx(0.0, abs=1e-5)


def test_next_token_top_p_cut_flags(peaked_model):
    model = peaked_model
    plain = torch.softmax(logits_of(model, PROMPT)[-1].float(), -1)
    ranked = torch.sort(plain, descending=True).values
    top_p = float(ranked[:3].sum()) - 1e-4  # the third token's mass pushes past top_p
    res = look.next_token(model, PROMPT, Sampling(temperature=1.0, top_p=top_p, valid_utf8=False), n=8)
    assert [c.kept for c in res.candidates] == [True] * 3 + [False] * 5
    assert all(c.cut_by == "top_p" for c in res.candidates[3:])
    assert res.kept_tokens == 3
    assert res.kept_mass == pytest.approx(float(ranked[:3].sum()), abs=1e-5)
    # top-k cuts first; top-p then works on what is left, renormalised (as generation does)
    first = float(ranked[0] / ranked[:2].sum())
    both = look.next_token(model, PROMPT, Sampling(temperature=1.0, top_k=2, top_p=first - 1e-4, valid_utf8=False),
                           n=8)
    assert [c.cut_by for c in both.candidates] == [None, "top_p"] + ["top_k"] * 6
    both = look.next_token(model, PROMPT, Sampling(temperature=1.0, top_k=2, top_p=first + 1e-4, valid_utf8=False),
                           n=8)
    assert [c.cut_by for c in both.candidates] == [None, None] + ["top_k"] * 6


def test_next_token_greedy_and_validation(peaked_model):
    res = look.next_token(peaked_model, PROMPT, Sampling(temperature=0), n=5)
    assert [c.kept for c in res.candidates] == [True] + [False] * 4
    assert {c.cut_by for c in res.candidates[1:]} == {"temperature 0"}
    with pytest.raises(PocketLLMError, match="top_p"):
        look.next_token(peaked_model, PROMPT, Sampling(temperature=1.0, top_p=1.5))
    with pytest.raises(PocketLLMError, match="one Sampling value"):
        look.next_token(peaked_model, PROMPT, 0.7)
    with pytest.raises(PocketLLMError, match="at least 1"):
        look.next_token(peaked_model, PROMPT, n=0)


def test_empty_prompt_starts_from_endoftext(tiny_model):
    res = look.next_token(tiny_model, "", n=5)
    assert res.empty_prompt and res.ids == [EOT_ID] and res.labels == ["<|endoftext|>"]
    same = look.next_token(tiny_model, "<|endoftext|>", n=5)
    assert not same.empty_prompt
    assert [c.id for c in res.candidates] == [c.id for c in same.candidates]
    att = look.attention(tiny_model, "")
    assert att.weights.shape == (2, 4, 1, 1) and att.empty_prompt
    assert look.logit_lens(tiny_model, "").empty_prompt


def test_long_prompt_keeps_its_last_part(tiny_model):
    ctx = tiny_model.cfg.context_length
    prompt = "爱" + " a" * (ctx - 1)  # 爱 is three byte tokens, so the cut splits it
    full = gpt2_tokenizer().encode(prompt)
    assert len(full) == ctx + 2
    res = look.next_token(tiny_model, prompt, n=3)
    assert res.dropped == 2 and res.ids == full[-ctx:] and not res.empty_prompt
    assert res.labels[0] == "<b1>" and res.text.startswith("\ufffd")  # a lone piece, shown as its byte
    with torch.no_grad():
        expected = torch.softmax(tiny_model(torch.tensor([full[-ctx:]]))[0, -1], -1)
    assert res.candidates[0].prob == close(float(expected.max()))
    att = look.attention(tiny_model, prompt)
    assert att.dropped == 2 and att.weights.shape[-1] == ctx
    lens = look.logit_lens(tiny_model, prompt)
    assert lens.dropped == 2 and len(lens.pred_ids[0]) == ctx


# ---- attention and logit lens ------------------------------------------------

def test_attention_rows_sum_to_one_and_are_causal(tiny_model):
    res = look.attention(tiny_model, PROMPT)
    n = len(gpt2_tokenizer().encode(PROMPT))
    w = torch.from_numpy(res.weights)
    assert w.shape == (2, 4, n, n) and len(res.labels) == n
    assert torch.allclose(w.sum(-1), torch.ones(2, 4, n), atol=1e-5)
    assert torch.all(w.triu(diagonal=1) == 0)
    assert (w.tril() > 0).sum() == 2 * 4 * n * (n + 1) // 2
    assert res.matrix(2, 3) == res.weights[1, 2].tolist()
    assert torch.allclose(torch.tensor(res.matrix(1)), w[0].mean(0))
    with pytest.raises(PocketLLMError, match="layer"):
        res.matrix(3)


def test_logit_lens_last_layer_is_the_models_prediction(tiny_model):
    idx = ids_of(tiny_model, PROMPT)
    probs = torch.softmax(logits_of(tiny_model, PROMPT), -1)
    lens = look.logit_lens(tiny_model, PROMPT, top=3)
    assert lens.layers == ["embeddings", "block 1", "block 2"]
    last = torch.tensor(lens.pred_probs[-1])
    assert [r[0] for r in lens.pred_ids[-1]] == probs.argmax(-1).tolist()
    assert torch.allclose(last[:, 0], probs.max(-1).values, atol=1e-6)
    assert torch.all(last[:, :-1] >= last[:, 1:])
    # the embeddings row: final norm + head on the embeddings alone
    emb = tiny_model.final_norm(tiny_model.embed(idx))
    first = torch.softmax(tiny_model.out_head(emb)[0], -1)
    assert [r[0] for r in lens.pred_ids[0]] == first.argmax(-1).tolist()
    assert lens.next_ids == idx[0].tolist()[1:] + [None]
    assert lens.top1_labels[-1][0] == lens.pred_labels[-1][0][0]
    # A long prompt: the model reads all of it, the lens covers its last positions only (each costs a head
    # per layer: 45 s on gpt2-124M for 1,024 of them), with the same numbers at those positions.
    short = look.logit_lens(tiny_model, PROMPT, top=3, positions=2)
    assert short.first == len(idx[0]) - 2 and short.lens_labels == lens.labels[-2:]
    assert [row[-2:] for row in lens.pred_ids] == short.pred_ids
    assert short.next_ids == lens.next_ids[-2:]


def test_runs_in_eval_mode_and_restores_training(tiny_config):
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(**{**tiny_config.to_dict(), "drop_rate": 0.5})).train()
    a = look.attention(model, PROMPT).weights
    b = look.attention(model, PROMPT).weights
    assert (a == b).all()  # no dropout
    assert model.training
    assert look.next_token(model, PROMPT, n=3).candidates == look.next_token(model.eval(), PROMPT, n=3).candidates


def test_classifier_is_refused(tiny_model):
    tiny_model.set_classifier_head(2)
    for view in (lambda: look.next_token(tiny_model, "hi"), lambda: look.attention(tiny_model, "hi"),
                 lambda: look.logit_lens(tiny_model, "hi")):
        with pytest.raises(PocketLLMError, match="language models"):
            view()
    assert look.parameter_map(tiny_model).total_parameters == tiny_model.num_parameters()


# ---- parameter map -----------------------------------------------------------

@pytest.mark.parametrize("tied", [True, False])
def test_parameter_map_totals(tiny_config, tied):
    cfg = ModelConfig(**{**tiny_config.to_dict(), "tie_embeddings": tied})
    model = GPTModel(cfg)
    pm = look.parameter_map(model)
    n = model.num_parameters()
    assert pm.tied == tied and pm.total_parameters == n
    assert sum(r["parameters"] for r in pm.components) == n
    assert sum(d["parameters"] for d in pm.dtypes) == n
    assert pm.total_bytes == 4 * n and pm.dtypes == [{"dtype": "float32", "parameters": n, "bytes": 4 * n}]
    assert ("head" in [r["component"] for r in pm.components]) == (not tied)
    L, d, V, T = cfg.num_layers, cfg.emb_dim, cfg.vocab_size, cfg.context_length
    assert pm.matmul_parameters == L * 12 * d * d + V * d  # q, k, v, out: 4d²; feed-forward: 8d²
    assert pm.context == T
    assert pm.flops_per_token == 2 * pm.matmul_parameters + 4 * L * T * d
    assert pm.train_flops_per_token == 3 * pm.flops_per_token
    short = look.parameter_map(model, context=8)
    assert pm.flops_per_token - short.flops_per_token == 4 * L * (T - 8) * d


def test_parameter_map_per_dtype(tiny_model):
    model = tiny_model.to(torch.bfloat16)
    pm = look.parameter_map(model)
    assert pm.dtypes == [{"dtype": "bfloat16", "parameters": model.num_parameters(),
                          "bytes": 2 * model.num_parameters()}]
    assert look.next_token(model, PROMPT, n=3).candidates[0].prob > 0  # runs in bf16 too


# ---- other model sources -----------------------------------------------------

def test_saved_checkpoint(tiny_model, tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", tiny_model)
    ckpt = load_model(path)
    mine = look.next_token(tiny_model, PROMPT, Sampling(temperature=1.0, top_k=3), n=5).candidates
    for model in (ckpt, ckpt.model):  # a Checkpoint works as well as its model
        theirs = look.next_token(model, PROMPT, Sampling(temperature=1.0, top_k=3), n=5).candidates
        assert [(c.id, c.kept) for c in theirs] == [(c.id, c.kept) for c in mine]
        assert [c.prob_after for c in theirs] == close([c.prob_after for c in mine])


def test_imported_hf_gpt2(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    # 64-wide heads: the head count of a bare weights file is read as emb_dim // 64
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=50257, n_positions=16, n_embd=128, n_layer=2, n_head=2,
        attn_implementation="eager")).eval()
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    ckpt = load_model(tmp_path / "pytorch_model.bin")
    idx = ids_of(ckpt.model, PROMPT)
    with torch.no_grad():
        ref = torch.softmax(hf(idx).logits[0], -1)
    lens = look.logit_lens(ckpt, PROMPT)
    assert [r[0] for r in lens.pred_ids[-1]] == ref.argmax(-1).tolist()
    assert torch.allclose(torch.tensor(lens.top1_probs[-1]), ref.max(-1).values, atol=1e-5)
    res = look.next_token(ckpt, PROMPT, n=5)
    assert [c.id for c in res.candidates] == torch.topk(ref[-1], 5).indices.tolist()
    with torch.no_grad():
        hf_att = hf(idx, output_attentions=True).attentions
    att = look.attention(ckpt, PROMPT)
    assert torch.allclose(torch.from_numpy(att.weights), torch.stack([a[0] for a in hf_att]), atol=1e-5)


# ---- command line ------------------------------------------------------------

def test_cli_prints_each_view(tiny_model, tmp_path, capsys):
    path = str(save_checkpoint(tmp_path / "m.safetensors", tiny_model))
    base = ["inspect", "--model_path", path, "--prompt", "我爱你 hello"]
    expected = {
        "tokens": ["== tokens", "piece of '我'", "22755"],
        "next": ["== next token", "cut by", "top_k"],
        "attention": ["== attention, block 2, head 1", "1.00", "·"],
        "lens": ["== logit lens", "embeddings", "block 2", "0 我(1/2)"],
        "params": ["== parameters", f"{tiny_model.num_parameters():,}", "FLOPs", "feed_forward"],
    }
    for what in VIEWS:
        assert main(base + ["--what", what, "--top_k", "2", "--top", "5", "--head", "1"]) == 0
        out = capsys.readouterr().out
        for text in expected[what]:
            assert text in out, (what, text)
        if what == "next":
            assert out.count("top_k") == 3 + 1  # 3 of 5 candidates cut, plus the title
    assert main(base) == 0
    out = capsys.readouterr().out
    assert all(f"== {v}" in out for v in ("tokens", "next token", "attention", "logit lens", "parameters"))


def test_cli_messages(tiny_model, tmp_path, capsys):
    path = str(save_checkpoint(tmp_path / "m.safetensors", tiny_model))
    assert main(["inspect", "--model_path", path, "--what", "next"]) == 2
    assert "--prompt" in capsys.readouterr().err
    assert main(["inspect", "--model_path", path, "--prompt", "", "--what", "next"]) == 0
    assert "<|endoftext|>" in capsys.readouterr().out
    assert main(["inspect", "--model_path", path, "--prompt", "hi", "--what", "attention", "--layer", "9"]) == 2
    assert "layer must be 1..2" in capsys.readouterr().err
    tiny_model.set_classifier_head(2)
    clf = str(save_checkpoint(tmp_path / "c.safetensors", tiny_model,
                              task={"type": "classifier", "labels": ["a", "b"]}))
    assert main(["inspect", "--model_path", clf, "--prompt", "hi"]) == 2
    assert "language models" in capsys.readouterr().err
    assert main(["inspect", "--model_path", clf, "--what", "params"]) == 0


def test_table_aligns_wide_characters():
    lines = table(["token", "p"], [["我爱", "0.5"], ["ab", "0.25"]]).splitlines()
    assert cells("我爱") == 4
    assert len({cells(line) for line in lines}) == 1  # right-aligned last column ends together


def test_cli_inspect_takes_the_generate_commands_sampling_flags(tiny_model, tmp_path, capsys):
    from pocketllm.cli import build_parser
    from pocketllm.cli._common import SAMPLING_FLAGS
    commands = build_parser()._subparsers._group_actions[0].choices

    def flags(name):
        return {a.dest for a in commands[name]._actions}
    assert set(SAMPLING_FLAGS) <= flags("inspect") and set(SAMPLING_FLAGS) <= flags("generate")
    path = str(save_checkpoint(tmp_path / "m.safetensors", tiny_model))
    base = ["inspect", "--model_path", path, "--prompt", "hello hello", "--what", "next", "--top", "4"]
    assert main(base + ["--min_p", "0.5", "--repetition_penalty", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "temperature 1, min_p 0.5, repetition_penalty 1.5" in out  # inspect's own default: temperature 1
    assert main(base + ["--preset", "greedy"]) == 0  # a saved preset, as generate takes it
    out = capsys.readouterr().out
    assert "(temperature 0)" in out and "temperature 0" in out.split("cut by")[1]
