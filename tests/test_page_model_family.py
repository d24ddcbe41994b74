"""The model family in the page (issue 20): the Pretrain tab's architecture picker, the Weights
tab's import of a Hugging Face folder (a path, or a .zip unpacked safely), and the report card
in the Weights table, its detail view and Compare models' column heads.

The app is built in-process (no server); handlers are called as the page calls them."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pocketllm import (GPTModel, ModelConfig, PretrainSettings, Sampling, generate, list_checkpoints, load_model,
                       save_checkpoint)
from tests.test_page_defaults import demo, handler, parsed  # noqa: F401  (the app built in-process; its handlers)

transformers = pytest.importorskip("transformers")


def last(out):
    """A handler's final outputs (a generator's last update)."""
    if hasattr(out, "__next__"):
        out = list(out)[-1]
    return out


# ---- Pretrain: the architecture picker ------------------------------------------------------
def test_the_arch_picker_starts_from_the_core_settings_and_lists_the_core_families(demo):
    from pocketllm.config import ARCHS
    from ui.tabs.pretrain import ARCH_ORDER
    defaults = PretrainSettings()
    picker = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "pretrain-arch")
    assert picker.value == (defaults.arch or ModelConfig.load(defaults.config).arch)
    assert set(ARCH_ORDER) == set(ARCHS) and {c[1] for c in picker.choices} == set(ARCHS)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen3"])
def test_the_form_settings_carry_the_chosen_arch(demo, arch):
    """The command box (the form's settings as flags) names --arch when it is not the preset's family."""
    fn = handler(demo, "pretrain_command")
    values = [c.value for c in fn.inputs]
    names = [getattr(c, "elem_id", None) for c in fn.inputs]
    values[names.index("pretrain-arch")] = arch
    args = parsed(fn.fn(*values))
    assert args.arch == (None if arch == ModelConfig.load(PretrainSettings().config).arch else arch)
    # ... and the facts count the parameters of that family's model
    facts = handler(demo, "pretrain_facts")
    fvalues = [c.value for c in facts.inputs]
    fvalues[[getattr(c, "elem_id", None) for c in facts.inputs].index("pretrain-arch")] = arch
    want = ModelConfig.load(PretrainSettings().config).with_arch(arch).replace(
        vocab_size=PretrainSettings().vocab_size).num_parameters()  # (the bpe learns all 4,000 on the classics)
    assert f"{want:,}" in facts.fn(*fvalues)


def test_a_preset_brings_its_own_family(demo):
    """Picking Qwen3-0.6B's preset picks its family too (its sizes and parts stay together)."""
    fn = next(f for f in demo.fns.values() if f.fn.__name__ == "on_preset")
    assert [getattr(c, "elem_id", None) for c in fn.outputs][-1] == "pretrain-arch"
    assert fn.fn("qwen3-0.6B")[-1] == "qwen3" and fn.fn("cpu-small")[-1] == "gpt2"


# ---- Weights: import a Hugging Face folder --------------------------------------------------
@pytest.fixture(scope="module")
def qwen3_folder(tmp_path_factory):
    from tests.test_hf_tokenizer import model_folder
    return model_folder(tmp_path_factory.mktemp("hf"), "qwen3")


def zipped(folder: Path, path: Path, inner: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f"{inner}{f.name}")
    return path


def test_a_zipped_qwen3_folder_lands_a_checkpoint_that_generates(demo, qwen3_folder, tmp_path):
    state = demo.pocketllm_state
    archive = zipped(qwen3_folder, tmp_path / "tiny-qwen3.zip", inner="tiny-qwen3/")
    table, picked, message = last(handler(demo, "weights_import_hf").fn(str(archive), "", "", "en"))
    target = state.checkpoints / "imported" / "tiny-qwen3.safetensors"
    assert target.is_file(), message
    assert "qwen3" in message.lower() or "Qwen3" in message
    assert "own tokenizer" in message
    assert picked["value"] == str(target)
    ckpt = load_model(target)
    assert ckpt.config.arch == "qwen3" and ckpt.tokenizer.kind == "hf"
    text = generate(ckpt, "The cat", 8, Sampling(temperature=0.8, seed=0))
    assert isinstance(text, str) and text
    assert str(target) in {r["path"] for r in state.models_table()}  # the model pickers list it
    from pocketllm import describe
    from ui.describe import summary_rows
    words = " ".join(f"{k} {v}" for k, v in summary_rows(ckpt, describe(ckpt), "zh", state.checkpoints))
    assert "导入模型自带的分词器" in words and "Hugging Face 模型类" in words and "tok_kind" not in words
    assert not list(state.temp.glob("hf-import-*"))  # the unpacked copy is gone
    # The same name again: refused, nothing overwritten.
    before = target.stat().st_mtime_ns
    *_, again = last(handler(demo, "weights_import_hf").fn(str(archive), "", "", "zh"))
    assert "已存在" in again and target.stat().st_mtime_ns == before


def test_a_folder_path_imports_too_and_errors_are_in_the_page_language(demo, qwen3_folder, tmp_path):
    state = demo.pocketllm_state
    *_, message = last(handler(demo, "weights_import_hf").fn(None, str(qwen3_folder), "by-path", "zh"))
    assert (state.checkpoints / "imported" / "by-path.safetensors").is_file(), message
    assert "已导入" in message
    *_, missing = last(handler(demo, "weights_import_hf").fn(None, str(tmp_path / "nowhere"), "x", "zh"))
    assert "不是文件夹" in missing  # the core's hf.not_folder, in Chinese
    *_, need = last(handler(demo, "weights_import_hf").fn(None, "", "", "zh"))
    assert "请上传" in need


def test_a_zip_that_escapes_its_folder_is_refused_and_writes_nothing(demo, qwen3_folder, tmp_path):
    state = demo.pocketllm_state
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(qwen3_folder / "config.json", "config.json")
        z.writestr("../escaped.txt", "outside")
        z.write(qwen3_folder / "model.safetensors", "model.safetensors")
    before = {p for p in state.checkpoints.rglob("*")}
    temp_before = {p for p in state.temp.rglob("*")}
    for lang, words in (("en", "nothing was unpacked"), ("zh", "什么都没有解压")):
        *_, message = last(handler(demo, "weights_import_hf").fn(str(archive), "", "evil", lang))
        assert words in message and "../escaped.txt" in message
    assert {p for p in state.checkpoints.rglob("*")} == before
    assert {p for p in state.temp.rglob("*")} == temp_before
    assert not list(tmp_path.parent.rglob("escaped.txt")) and not (state.temp.parent / "escaped.txt").exists()
    absolute = tmp_path / "absolute.zip"
    with zipfile.ZipFile(absolute, "w") as z:
        z.writestr("/etc/x", "x")
    *_, message = last(handler(demo, "weights_import_hf").fn(str(absolute), "", "abs", "en"))
    assert "nothing was unpacked" in message
    not_zip = tmp_path / "not.zip"
    not_zip.write_text("hello")
    *_, message = last(handler(demo, "weights_import_hf").fn(str(not_zip), "", "nz", "zh"))
    assert "不是可读取的" in message


def test_a_path_is_refused_when_the_page_is_shared(tmp_path, qwen3_folder):
    from ui.app import build_app
    app = build_app(tmp_path / "ck", temp_dir=tmp_path / "tmp", host="0.0.0.0")
    *_, message = last(handler(app, "weights_import_hf").fn(None, str(qwen3_folder), "x", "en"))
    assert "does not read folders by path" in message
    assert not (tmp_path / "ck" / "imported").exists()


# ---- the report card in the page ------------------------------------------------------------
CARDS = {
    "lm": ({"kind": "pretrain", "val_bits_per_char": 2.3141, "val_loss": 3.2, "val_windows": 64,
            "repeated_4grams": 0.12, "distinct_2": 0.8, "samples": 4}, "2.314"),
    "cls": ({"kind": "classify", "test_accuracy": 0.912, "test_examples": 300, "macro_f1": 0.9,
             "confusion_matrix": {"labels": ["ham", "spam"], "rows_true_cols_predicted": [[140, 10], [16, 134]]}},
            "91.2%"),
    "ins": ({"kind": "instruct", "exact_match": 0.4, "test_answers": 20, "empty_answers": 0.05}, "40.0%"),
}


@pytest.fixture(scope="module")
def carded(demo):
    state = demo.pocketllm_state
    cfg = ModelConfig(vocab_size=50257, context_length=16, emb_dim=16, num_heads=2, num_layers=1, drop_rate=0.0)
    for name, (card, _) in CARDS.items():
        model = GPTModel(cfg).eval()
        task = {"type": "pretrain"}
        if card["kind"] == "classify":
            model.set_classifier_head(2)
            task = {"type": "classify", "labels": ["ham", "spam"]}
        elif card["kind"] == "instruct":
            task = {"type": "instruct"}
        save_checkpoint(state.checkpoints / "cards" / f"{name}.safetensors", model, task,
                        {"steps": 10, "report_card": card})
    return state


def test_the_report_card_shows_in_the_table_rows(demo, carded):
    from ui.tabs.weights import table_of
    rows = {Path(r["path"]).stem: r for r in list_checkpoints(carded.checkpoints)}
    for lang, column in (("en", "report card"), ("zh", "成绩单")):
        frame = table_of([rows[n] for n in CARDS], lang, carded.checkpoints)
        shown = list(frame[column])
        for (name, (_, figure)), cell in zip(CARDS.items(), shown):
            assert figure in cell, (name, cell)
    en = list(table_of([rows[n] for n in CARDS], "en")["report card"])
    assert en[0].startswith("bits/char") and en[1].startswith("test accuracy") and en[2].startswith("exact match")
    # The page's own listing carries it too.
    table, _picker = handler(demo, "weights_list").fn(None, "zh")
    assert "每字符比特 2.314" in list(table["成绩单"])


def test_the_detail_view_shows_every_figure_in_the_page_language(demo, carded):
    info = handler(demo, "weights_info")
    for lang, words in (("en", ["held-out bits per character", "repeated 4-grams", "2.314", "on 64 windows"]),
                        ("zh", ["成绩单", "留出集每字符比特", "重复的四元组", "2.314", "64 个窗口", "架构"])):
        text = info.fn(str(carded.checkpoints / "cards" / "lm.safetensors"), lang)
        for w in words:
            assert w in text, (w, text)
    text = info.fn(str(carded.checkpoints / "cards" / "cls.safetensors"), "zh")
    assert "测试准确率" in text and "91.2%（共 300 条）" in text and "混淆矩阵" in text and "| spam | 16 | 134 |" in text
    from tests.test_chinese_page import english_left
    card_part = text.split("成绩单", 1)[1]
    assert english_left(card_part.replace("ham", "").replace("spam", "")) == []


def test_compare_models_heads_carry_the_card(carded):
    from ui.experiments import model_head
    ckpt = load_model(carded.checkpoints / "cards" / "lm.safetensors")
    assert "每字符比特 2.314" in model_head(ckpt, "lm", "zh")
    assert "bits/char 2.314" in model_head(ckpt, "lm", "en")
    plain = load_model(carded.checkpoints / "cards" / "ins.safetensors")
    plain.facts = {}
    assert "成绩单" not in model_head(plain, "x", "zh")
