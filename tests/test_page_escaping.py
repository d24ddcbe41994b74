"""Issue 19, cause 10: what users and files wrote reaches the page as text, never as markup.

Gradio's Markdown, Chatbot and toasts render HTML (its sanitizer keeps `<style>`, `<img>`, `<a>`,
`<form>`, `<input>`), so a class label, a run or file name, a chat message or a value in an error
message holding `<style>body{display:none}</style>` would blank the page.  Here the handlers'
outputs are checked to hold such text only escaped (`ui/markup.py`), and still to say it (the
escaped text is there).  tests/test_browser_escaping.py shows the same in a browser.

Also the page-side WEAK items of issue 19: core messages name the form's boxes, not CLI flags;
a full disk during an upload says so in the page's language; a restarted app keeps its port (and
says why when it moves).
"""
from __future__ import annotations

import errno
import json
import re
import shutil
import socket
import time
from pathlib import Path

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError, PretrainSettings, save_checkpoint
from pocketllm.training.events import Failed, Sample, Started
from ui.markup import Markup, escape, fenced, fill, literal, plain

STYLE = "<style>body{display:none}</style>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "<a href=javascript:alert(1)>x</a>"
FORM = "<form><input></form>"
BOLD = "**bold**"
EVIL = f"{STYLE} {IMG} {LINK} {FORM} {BOLD}"
# A file or folder name cannot hold "/": the same attack without closing tags (a browser needs none).
EVIL_NAME = "<style>body{display:none}<img src=x onerror=alert(1)><form><input>**bold**"
TAG = re.compile(r"<\s*/?\s*(style|img|a|form|input|script|link|meta|button|iframe)\b", re.I)


def outside_code(markdown: str) -> str:
    """The Markdown without its code (fenced blocks, `spans`): what is read as markup."""
    markdown = re.sub(r"(?ms)^```.*?^```", "", markdown)
    return re.sub(r"`[^`\n]+`", "", markdown)


def shows_as_text(markdown, text: str):
    """`markdown` (a handler's output for a Markdown, Chatbot or toast) says `text` only as text."""
    assert isinstance(markdown, str), markdown
    assert not TAG.search(outside_code(markdown)), markdown
    assert "**bold**" not in outside_code(markdown), markdown
    assert escape(text) in markdown or text in re.findall(r"```text\n(.*?)\n```", markdown, re.S) \
        or text in re.findall(r"`([^`\n]+)`", markdown), f"{text!r} is not said in {markdown!r}"


# ---- the escaping itself --------------------------------------------------------------------

def test_escape_keeps_the_text_and_drops_every_markup():
    for text in (STYLE, IMG, LINK, FORM, BOLD, EVIL, "a_b [x](http://e.com) $$x$$ `t` \\*y ~s~ |c|",
                 "line\n    code\n# heading\n> quote", "&lt; is not <"):
        shown = escape(text)
        assert not TAG.search(shown) and not re.search(r"[<>`*\[\]$|~\\]", shown)
        assert plain(shown) == text  # the browser decodes character references back to the text
    assert escape("tiny_corpus-3f2a.txt") == "tiny_corpus-3f2a.txt"  # a name inside a word stays readable
    assert escape(Markup("**ours**")) == "**ours**"


def test_fill_escapes_values_where_they_stand_and_keeps_our_markup():
    out = fill("**{name}** is done: `--resume {name}` {n:,} {quoted!r} {ours}",
               {"name": EVIL, "n": 12345, "quoted": IMG, "ours": Markup("**kept**")})
    assert out.startswith(f"**{escape(EVIL)}** is done: `--resume ")
    assert "12,345" in out and "**kept**" in out and "'&lt;img" in out
    shows_as_text(out, EVIL)
    # In a code span the value is literal already; it only cannot close the span or the paragraph.
    inside = fill("`{x}` then {x}", {"x": "a`b\n\n<img src=x>"})
    assert inside.startswith("`aˋb <img src=x>` then ") and not TAG.search(outside_code(inside))
    # A backtick that nothing closes, a span a blank line ends: the value is escaped as text.
    assert fill("a stray ` and {x}", {"x": IMG}) == f"a stray ` and {escape(IMG)}"
    assert escape(IMG) in fill("`a\n\n{x}`", {"x": IMG})
    # A fence: a run of backticks in the value cannot close it.
    block = fenced("x\n```\n" + IMG)
    assert block.count("```") == 2 and IMG in block
    # An English message whose values are gone (read back from a file): escaped whole, code kept.
    said = literal(f"Cannot read {EVIL}: run `iconv -f X in.txt > out.txt`.")
    assert "`iconv -f X in.txt > out.txt`" in said
    shows_as_text(said, EVIL)


def test_t_escapes_values_and_t_plain_does_not():
    from ui.i18n import t, t_plain
    line = t("en", "pretrain.status_finished", name=EVIL_NAME, step=5)
    assert isinstance(line, Markup) and line.startswith("**")  # our bold stays
    shows_as_text(line, EVIL_NAME)
    assert EVIL_NAME in t_plain("en", "pretrain.status_finished", name=EVIL_NAME, step=5)
    nested = t("zh", "training.busy", kind=t("zh", "training.kind_pretrain"), name=EVIL_NAME)
    shows_as_text(nested, EVIL_NAME)


# ---- the handlers: run names, labels, file names, chat, error values, previews -----------------------

def tiny_model(classes=None, seed=0) -> GPTModel:
    torch.manual_seed(seed)
    model = GPTModel(ModelConfig(vocab_size=50257, context_length=256, emb_dim=32, num_heads=2, num_layers=1,
                                 drop_rate=0.0)).eval()
    if classes:
        model.set_classifier_head(classes)
    return model


LABELS = [STYLE + IMG, LINK + FORM, BOLD]


def write_run(folder: Path, events: list) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({**PretrainSettings().to_dict(), "task": "pretrain"}), "utf-8")
    (folder / "events.jsonl").write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events), "utf-8")
    return folder


def evil_run(folder: Path) -> Path:
    """A pretraining run named EVIL_NAME whose sample text and failure hold EVIL."""
    now = time.time()
    return write_run(folder / EVIL_NAME, [
        Started(now, total_steps=10, steps_per_epoch=10, tokens_per_step=64),
        Sample(now, step=3, tokens_seen=192, prompt=EVIL, text="\n```\n" + IMG),
        Failed(now, step=3, message=f"Column {EVIL!r} has 9 different values in 10 rows. Name --label_column.",
               code="table.too_many_classes", values={"column": EVIL, "count": 9, "rows": 10})])


def evil_folder(folder: Path) -> dict[str, Path]:
    """A checkpoints folder where every name and label is hostile: a classifier whose labels, data
    and facts hold EVIL, a language model named EVIL_NAME (and a plain one), and `evil_run`."""
    classifier = save_checkpoint(folder / "classify-evil" / "model.safetensors", tiny_model(classes=3, seed=1),
                                 task={"type": "classify", "labels": LABELS},
                                 facts={"data": f"{EVIL_NAME}.csv", "steps": 5, "note": EVIL, EVIL_NAME: 1})
    # (saved under a plain name, then renamed: the core's save globs for its temp files by the name)
    named = save_checkpoint(folder / "named.safetensors", tiny_model()).rename(folder / f"{EVIL_NAME}.safetensors")
    other = save_checkpoint(folder / "plain-lm.safetensors", tiny_model(seed=2))
    return {"classifier": classifier, "named": named, "other": other, "run": evil_run(folder)}


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    """The app (built, not served: its handlers are called directly) over `evil_folder`."""
    from ui.app import build_app
    root = tmp_path_factory.mktemp("evil")
    paths = evil_folder(root / "checkpoints")
    demo = build_app(root / "checkpoints", temp_dir=root / "temp")
    return demo, demo.pocketllm_state, paths


def handler(demo, api_name):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_run_name_a_sample_and_a_failure_show_as_text_in_the_live_view(evil, lang):
    demo, state, paths = evil
    out = handler(demo, "pretrain_poll")("", "", "", lang, "nats")
    texts = [o for o in out if isinstance(o, str)]
    status = next(o for o in texts if "**" in o and escape(EVIL_NAME) in o)  # "**<name> failed**: ..."
    shows_as_text(status, EVIL_NAME)
    shows_as_text(status, EVIL)  # the failure's value, in the page's words
    assert "--label_column" not in status
    samples = next(o for o in texts if "```text" in o)
    assert samples.count("```") == 2 and EVIL + "\nʼʼʼ\n" + IMG in samples  # the sample stays inside its block


def test_a_failure_read_back_without_its_template_is_escaped_whole(tmp_path):
    from pocketllm import read_run
    from ui.runs import status_line
    run = write_run(tmp_path / "pretrain-1", [Failed(time.time(), step=1, message=f"RuntimeError: {EVIL}")])
    line = status_line(read_run(run), "en", "pretrain")
    shows_as_text(line, EVIL)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_labels_file_names_and_facts_show_as_text_in_load_and_describe(evil, lang):
    demo, state, paths = evil
    info = handler(demo, "weights_info")(str(paths["classifier"]), lang)
    for label in LABELS:
        shows_as_text(info, label)
    shows_as_text(info, f"{EVIL_NAME}.csv")
    shows_as_text(info, EVIL)  # a fact the page has no name for: its value
    assert all(line.count("|") - line.count("&#124;") in (3, 4) for line in info.splitlines() if line)  # one row each
    # The table (a Dataframe shows text as text) has the names as they are.
    table, picker = handler(demo, "weights_list")(None, lang)
    assert f"{EVIL_NAME}.safetensors" in table.iloc[:, 0].tolist()


def test_a_file_name_shows_as_text_in_a_compared_models_head(evil):
    from pocketllm import load_model
    from ui.experiments import model_head
    demo, state, paths = evil
    for lang in ("en", "zh"):
        head = model_head(load_model(paths["named"]), paths["named"].name, lang)
        shows_as_text(head, paths["named"].name)


def test_a_chat_message_and_answer_show_as_text_and_the_model_reads_them_as_typed(evil):
    from ui.experiments import shown_history, shown_message, turns_of
    demo, state, paths = evil
    out = list(handler(demo, "chat")(str(paths["named"]), [], EVIL, 0.0, 2, "en"))
    history = out[-1][0]
    assert history[0]["role"] == "user"
    shows_as_text(history[0]["content"], EVIL)
    answer = shown_message("assistant", EVIL)
    shows_as_text(answer["content"], EVIL)
    again = shown_history([*history, answer])  # the page sends the history back as it showed it
    assert turns_of(again)[0][0] == EVIL and turns_of(again)[-1][1] == EVIL
    assert shown_history(again) == again  # escaped once, however often it goes round
    raw = shown_history([{"role": "user", "content": EVIL}])  # an API call may send anything
    shows_as_text(raw[0]["content"], EVIL)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_typed_names_repeated_in_messages_show_as_text(evil, lang):
    demo, state, paths = evil
    typed = f"{STYLE}{IMG}{BOLD}"  # (within the length both messages repeat)
    # A rename refused (a "/" in it): the name typed is said back.
    message = handler(demo, "weights_rename")(str(paths["named"]), typed, lang)[-1]
    assert message.startswith("⚠️")
    shows_as_text(message, typed)
    # A run that is not in the folder, picked by hand.
    out = handler(demo, "compare_runs")([typed], "step", "loss", lang)
    shows_as_text(out[2], typed)
    # A damaged header's reason: the page's words, its value escaped.
    bad = state.checkpoints / f"{EVIL_NAME}-broken.safetensors"
    shutil.copyfile(paths["named"], bad)
    with open(bad, "r+b") as fh:
        fh.seek(8)
        fh.write(b"{" * 40)
    note = handler(demo, "weights_select")(str(bad), lang)[3]
    shows_as_text(note, bad.name)
    bad.unlink()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_uploaded_tables_and_records_show_as_text_in_previews(evil, lang):
    demo, state, paths = evil
    table = state.corpora / "table.csv"
    table.write_text(f"\"{EVIL}\",\"{LINK}\"\n" + "".join(f"\"message number {i} is here\",\"{LABELS[i % 3]}\"\n"
                                                           for i in range(30)), "utf-8")
    preview, plot, examples, text_col, label_col = handler(demo, "classify_preview")(
        "upload", str(table), EVIL, LINK, False, lang)
    shows_as_text(preview, EVIL)  # the column names
    shows_as_text(preview, LINK)
    assert set(LABELS) <= set(examples.iloc[:, 0])  # the Dataframe: the labels as they are
    # A label column with a value per row: the core's refusal, its value (a column name) escaped, in the
    # page's words (the box, not --label_column).
    many = state.corpora / "many.csv"
    many.write_text(f"text,\"{EVIL}\"\n" + "".join(f"\"a text of some words {i}\",v{i}\n" for i in range(40)), "utf-8")
    preview = handler(demo, "classify_preview")("upload", str(many), "", "", False, lang)[0]
    assert ("“label column”" if lang == "en" else "“标签列”") in preview and "--label_column" not in preview
    shows_as_text(preview, EVIL)
    # Instruction records: each is shown in a ```text block that its text cannot close.
    records = state.corpora / "records.json"
    records.write_text(json.dumps([{"instruction": EVIL + "\n```\n" + IMG, "input": "", "output": LINK}] * 3), "utf-8")
    preview = handler(demo, "instruct_preview")("upload", str(records), "alpaca", lang)
    assert not TAG.search(outside_code(preview)) and "**bold**" not in outside_code(preview)
    assert IMG in preview and LINK in preview  # inside the blocks, literally


# ---- the core's messages on the page: the form's boxes, not command-line flags -------------------------

def core_templates() -> dict[str, str]:
    from tests.test_core_error_codes import raise_sites
    return {code: template for _, template, code in raise_sites() if code and template}


def test_every_page_wording_fits_its_core_error_and_names_no_flag():
    from ui.i18n import _load
    from tests.test_core_error_codes import fields
    core = core_templates()
    texts = _load()
    page = {k.removeprefix("core_page."): v for k, v in texts["en"].items() if k.startswith("core_page.")}
    assert len(page) >= 20
    for lang in ("en", "zh"):
        for code in page:
            text = texts[lang][f"core_page.{code}"]
            assert code in core, f"core_page.{code}: no such core error"
            assert fields(text) <= fields(core[code]), (code, lang)
            assert not re.search(r"--[a-z]", text), (code, lang, text)


FLAGGED = ["corpus.too_short", "table.no_text_column", "table.no_label_column", "table.too_many_classes",
           "classify.too_many_blocks", "train.out_of_memory", "train.out_of_memory_estimate", "train.too_few_examples",
           "train.diverged", "train.no_steps_left", "text.not_found", "table.not_found", "instructions.not_found",
           "checkpoint.not_found", "run.folder_in_use", "run.folder_record_damaged",
           "pretrain.resume_no_state", "train.state_damaged", "run.max_length_out_of_range", "quantize.not_cpu"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_core_errors_the_page_can_meet_name_no_flag(lang):
    from tests.test_core_error_codes import fields
    from ui.errors import message_of
    core = core_templates()
    for code in FLAGGED:
        values = {name: (EVIL if name in ("name", "path", "column", "columns") else 3) for name in fields(core[code])}
        values.update({k: 0.1 for k in ("held_out", "loss", "lr") if k in values})
        message = message_of(PocketLLMError(core[code], code=code, **values), lang)
        assert "--" not in plain(message), (code, message)
        assert not TAG.search(outside_code(message)), message


# ---- a full disk, said in the page's language -------------------------------------------------------

def disk_full(src, dst, **kw):
    Path(dst).write_bytes(Path(src).read_bytes()[:10])
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("lang, words", [("en", "disk is full"), ("zh", "磁盘已满")])
def test_an_upload_on_a_full_disk_says_so_and_keeps_nothing(evil, tmp_path, monkeypatch, lang, words):
    demo, state, paths = evil
    upload = tmp_path / f"{EVIL_NAME}.txt"
    upload.write_text("once upon a time " * 200, encoding="utf-8")
    before = set(state.corpora.iterdir())
    monkeypatch.setattr(shutil, "copyfile", disk_full)
    out = handler(demo, "pretrain_upload")(str(upload), lang)  # the Pretrain tab's upload (a toast)
    assert set(state.corpora.iterdir()) == before
    assert out == tuple(out) and all(not isinstance(o, str) or o == "" for o in out)  # nothing changed
    from ui.training_parts import kept_upload
    with pytest.raises(PocketLLMError) as refused:
        kept_upload(state, str(upload), [".txt"], lang)
    message = str(refused.value)
    assert words in message and "Something went wrong" not in message
    shows_as_text(message, upload.name)
    # The Weights tab's upload of a checkpoint: no half file, the same words.
    files = lambda: {p for p in state.checkpoints.rglob("*") if p.is_file()}  # noqa: E731
    weights_before = files()
    note = handler(demo, "weights_upload")(str(paths["named"]), lang)[-1]
    assert words in note and files() == weights_before


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_file_error_is_said_not_something_went_wrong(lang):
    from ui.errors import message_of
    full = message_of(OSError(errno.ENOSPC, "No space left on device", f"/tmp/{EVIL_NAME}"), lang)
    assert ("disk is full" if lang == "en" else "磁盘已满") in full
    shows_as_text(full, EVIL_NAME)
    denied = message_of(PermissionError(errno.EACCES, "Permission denied", "/x/run.json"), lang)
    assert "run.json" in denied and "Something went wrong" not in denied and "出了点问题" not in denied


# ---- a restarted app keeps its port, and says why when it moves ------------------------------------------

def test_a_restarted_app_keeps_its_port_and_a_moved_one_says_why():
    import launch
    from tests.app_fixtures import free_port
    # An app that just stopped leaves its port's connections in TIME_WAIT: nothing listens there.
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", free_port()))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server closes first (as a stopped app does): its side waits in TIME_WAIT
    time.sleep(0.1)
    client.close()
    time.sleep(0.1)
    server.close()
    assert launch.free_port("127.0.0.1", port) == port
    assert launch.moved_note(port, port) is None
    # A port something listens on: the next one, and why, in English and Chinese.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        taken = busy.getsockname()[1]
        moved = launch.free_port("127.0.0.1", taken)
        assert moved != taken
        note = launch.moved_note(taken, moved)
        assert f"port {taken} is in use" in note and f"端口 {taken} 已被占用" in note and str(moved) in note
