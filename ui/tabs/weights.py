"""Weights tab: every checkpoint in a table (with its report card's headline figure); load
(describe, with the whole report card), rename, delete (after a confirmation), download; import
GPT-2 weights; import a Hugging Face model folder of any family (GPT-2, Llama, Qwen3: a path on
this computer, or a .zip of the folder, unpacked safely); export to the Hugging Face layout as a
zip (the checkpoint with its own tokenizer); upload a PocketLLM checkpoint.

Its widgets are named elements (`ui/elements.py`: "pick.selected", "list.table", ...) and its
handlers take and return dicts keyed by those names."""
from __future__ import annotations

import re
import shutil
import stat
import zipfile
from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import NotACheckpoint, PocketLLMError, describe, export_hf, import_gpt2, load_model, read_header, save_checkpoint
from pocketllm import TaskKind, delete_checkpoint, rename_checkpoint, task_kind
from pocketllm.files import atomic_write
from pocketllm.huggingface import import_hf  # the one `python -m pocketllm import-hf` uses

from ..core_errors import coded_message
from ..describe import base_name, summary_rows, time_text
from ..elements import Elements
from ..errors import message_of, status_text, upload_refusal
from ..experiments import card_markdown, card_of, card_short
from ..i18n import t, t_plain
from ..markup import Markup, plain
from ..limits import NAME_CHARS, SOURCE_CHARS
from ..state import AppState

COLUMNS = ["name", "task", "tokenizer", "data", "base", "parameters", "size_mb", "trained", "score", "card"]
# A Hugging Face folder sent as a .zip: unpacked into the app's temp folder, within these bounds.
HF_ZIP_BYTES = 2 * 2**30 + 2**26   # what the files may hold unpacked: the 2 GB upload limit, and its configs
HF_ZIP_FILES = 256                # a folder is a config, a tokenizer and a few shards
TASKS = (*(k.value for k in TaskKind), "damaged")


def is_damaged(row: dict) -> bool:
    return bool(row.get("damaged")) or row.get("task") == "damaged"


def trained_at(row: dict) -> str:
    """When the model was saved by its training run, from the file's own facts (an uploaded
    or copied file keeps it); the file's date only for files without it."""
    return time_text((row.get("facts") or {}).get("saved_at"), otherwise=row.get("created", ""))


def data_name(facts: dict) -> str:
    """What it learnt from: the corpus or data set, or where imported weights came from."""
    return str(facts.get("data") or facts.get("imported_from") or "—")


def score_text(facts: dict, lang) -> str:
    if isinstance(facts.get("val_accuracy"), (int, float)):
        return t_plain(lang, "weights.score_accuracy", value=f"{facts['val_accuracy']:.1%}")
    if isinstance(facts.get("best_val_loss"), (int, float)):
        return t_plain(lang, "weights.score_loss", value=f"{facts['best_val_loss']:.3f}")
    return ""


def suggested_name(row: dict) -> str:
    """A name that says which model it is: every run saves `model.safetensors`, so that one
    is offered (for a rename or a download) as `<task>-<data>-step<N>`, from the file's own
    facts (`row` is its catalog row, read from its header)."""
    path, facts = Path(row["path"]), row.get("facts") or {}
    if path.stem != "model" or not isinstance(facts.get("steps"), int):
        return path.stem
    kind = task_kind(row.get("task")) or TaskKind.PRETRAIN
    data = Path(str(facts.get("data") or "")).stem
    return safe_name("-".join(x for x in (str(kind), data, f"step{facts['steps']}") if x), path.stem)


def damage_reason(row: dict, lang) -> Markup:
    """Why a listed file cannot be loaded, in the page's language (Markdown: `plain()` for the table)."""
    return coded_message(row.get("error_code", ""), row.get("error_values") or {}, row.get("score", ""), lang)


def shown_row(row: dict, lang, root=None) -> dict:
    """A catalog row as the table shows it (a Dataframe shows text as text: nothing escaped), in
    the page's language; a damaged file says why in the score column.  A finetune's base is named as the name column names it (its path
    in the checkpoints folder `root`), so finetunes of different bases are told apart."""
    task = str(task_kind(row.get("task")) or row.get("task", ""))
    facts = row.get("facts") or {}
    out = {"name": row.get("name", ""), "tokenizer": row.get("tokenizer", ""), "size_mb": row.get("size_mb", ""),
           "task": t(lang, f"weights.task_{task}") if task in TASKS else task,
           "data": data_name(facts), "base": base_name(facts, lang, root), "trained": trained_at(row)}
    if is_damaged(row):
        out.update(parameters="—", tokenizer="—", data="—", base="—", card="—",
                   score=t_plain(lang, "weights.damaged_reason", reason=damage_reason(row, lang)))
    else:
        out.update(parameters=f"{int(row.get('parameters') or 0):,}", score=score_text(facts, lang),
                   card=card_short(card_of(facts), lang) or "—")
    return {k: plain(v) for k, v in out.items()}


def table_of(rows: list[dict], lang="en", root=None) -> pd.DataFrame:
    frame = pd.DataFrame([shown_row(r, lang, root) for r in rows], columns=COLUMNS)
    frame.columns = [t(lang, f"weights.col_{c}") for c in COLUMNS]
    return frame


def table(state, lang="en") -> pd.DataFrame:
    return table_of(state.checkpoints_table(), lang, state.checkpoints)


def safe_name(name: str, fallback: str) -> str:
    name = re.sub(r"[^\w.\-]+", "_", (name or "").strip()).strip("._") or fallback
    return name.removesuffix(".safetensors")


def new_file_name(name, lang) -> str:
    """A rename's new name: a plain file name (no folder, no leading dot), else refused."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise PocketLLMError(t(lang, "weights.not_renamed"))
    if "/" in name or "\\" in name or name.startswith(".") or ".." in name:
        raise PocketLLMError(t(lang, "weights.bad_name", name=name[:NAME_CHARS]))
    if len(name) > NAME_CHARS:
        raise PocketLLMError(t(lang, "weights.long_name", n=f"{len(name):,}", limit=NAME_CHARS))
    return safe_name(name, "")


def not_running(state: AppState, path: Path, lang) -> Path:
    """`path`, unless it is the checkpoint the running job writes."""
    job = state.runner.current
    if job is not None and state.running_checkpoint() == path:
        raise PocketLLMError(t(lang, "weights.in_use", name=job.name))
    return path


def import_source(state: AppState, source: str, lang) -> str:
    """A model name, or a path on the server only when the page is this computer's alone:
    otherwise anyone who reaches the page could read server files as "weights"."""
    if len(source) > SOURCE_CHARS:
        raise PocketLLMError(t(lang, "weights.long_source", limit=f"{SOURCE_CHARS:,}"))
    try:
        exists = Path(source).exists()
    except (ValueError, OSError):  # not even a valid path
        exists = True
    looks_like_path = exists or any(c in source for c in "/\\~:") or source.startswith(".")
    if looks_like_path and not state.local_paths:
        raise PocketLLMError(t(lang, "weights.no_local_paths"))
    return source


def zip_entries(archive: zipfile.ZipFile, lang) -> list[zipfile.ZipInfo]:
    """The files of a Hugging Face folder's zip, each checked before anything is written: a
    plain relative name (no `..`, no absolute or drive path, no backslash), no link, and the
    whole within HF_ZIP_FILES files and HF_ZIP_BYTES unpacked.  Any other entry refuses it all."""
    files, total = [], 0
    for info in archive.infolist():
        name = info.filename
        parts = name.rstrip("/").split("/")
        if (not name or name.startswith("/") or "\\" in name or ":" in name or "\0" in name
                or any(part in ("", ".", "..") for part in parts)):
            raise PocketLLMError(t(lang, "weights.hf_zip_escape", name=name[:120]))
        if stat.S_ISLNK(info.external_attr >> 16):
            raise PocketLLMError(t(lang, "weights.hf_zip_link", name=name[:120]))
        if info.is_dir():
            continue
        files.append(info)
        total += info.file_size
        if len(files) > HF_ZIP_FILES or total > HF_ZIP_BYTES:
            raise PocketLLMError(t(lang, "weights.hf_zip_too_big", files=HF_ZIP_FILES,
                                   size=f"{HF_ZIP_BYTES / 2**30:.0f} GB"))
    return files


def unzip_folder(path, into: Path, lang) -> Path:
    """The Hugging Face folder inside the zip at `path`, unpacked under `into` (the app's temp
    folder): the zip's top level, or its one folder that holds config.json."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise PocketLLMError(t(lang, "weights.hf_not_zip", name=Path(str(path)).name)) from None
    with archive:
        files = zip_entries(archive, lang)
        written = 0
        for info in files:
            target = into.joinpath(*info.filename.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):  # counted as written: a header that lies is no way round
                    written += len(chunk)
                    if written > HF_ZIP_BYTES:
                        raise PocketLLMError(t(lang, "weights.hf_zip_too_big", files=HF_ZIP_FILES,
                                               size=f"{HF_ZIP_BYTES / 2**30:.0f} GB"))
                    dst.write(chunk)
    configs = sorted(c.parent for c in into.rglob("config.json"))
    if (into / "config.json").is_file():
        return into
    if len(configs) == 1:
        return configs[0]
    raise PocketLLMError(t(lang, "weights.hf_zip_no_folder", name=Path(str(path)).name))


# What a selected checkpoint enables (each looks enabled only once one is selected), and every
# element that shows something about the selected checkpoint.
ACTING = ["pick.load", "pick.export", "pick.rename", "pick.delete"]
SELECTION = ["pick.download", "pick.confirm", "pick.new_name", "pick.message", *ACTING]
LISTING = ["list.table", "pick.selected"]


def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    els = Elements(ctx)

    page.add(gr.Markdown(L("weights.intro")), value="weights.intro")
    with gr.Row():
        els.add("list.refresh", gr.Button(L("weights.refresh"), size="sm", elem_id="w-refresh"),
                value="weights.refresh")
    els.add("list.table", gr.Dataframe(interactive=False, elem_id="w-table", wrap=True, max_height=320,
                                       column_widths=["19%", "8%", "7%", "11%", "11%", "8%", "6%", "10%", "10%",
                                                      "10%"]))
    with gr.Row(equal_height=True):
        els.add("pick.selected", gr.Dropdown([], label=L("weights.selected"), scale=3, elem_id="w-selected",
                                             allow_custom_value=False), label="weights.selected")
        els.add("pick.load", gr.Button(L("weights.load"), scale=1, elem_id="w-load", interactive=False),
                value="weights.load")
        els.add("pick.download", gr.DownloadButton(L("weights.download"), scale=1, elem_id="w-download",
                                                   interactive=False), label="weights.download")
        els.add("pick.export", gr.Button(L("weights.export"), scale=1, min_width=220, elem_id="w-export",
                                         interactive=False), value="weights.export")
    with gr.Row(equal_height=True):
        els.add("pick.new_name", gr.Textbox(label=L("weights.new_name"), scale=3, elem_id="w-new-name",
                                            max_length=NAME_CHARS), label="weights.new_name")
        els.add("pick.rename", gr.Button(L("weights.rename"), scale=1, elem_id="w-rename", interactive=False),
                value="weights.rename")
        els.add("pick.delete", gr.Button(L("weights.delete"), variant="stop", scale=1, elem_id="w-delete",
                                         interactive=False), value="weights.delete")
    with gr.Row(visible=False) as confirm_row:
        els.add("pick.confirm_text", gr.Markdown(elem_id="w-confirm-text"))
        els.add("pick.confirm_yes", gr.Button(L("weights.confirm_yes"), variant="stop", elem_id="w-confirm-yes"),
                value="weights.confirm_yes")
        els.add("pick.confirm_no", gr.Button(L("weights.confirm_no"), elem_id="w-confirm-no"),
                value="weights.confirm_no")
    els.add("pick.confirm", confirm_row)
    els.add("pick.message", gr.Markdown(elem_id="w-message"))
    els.add("pick.export_file", gr.File(label=L("weights.export_file"), visible=False, elem_id="w-export-file"),
            label="weights.export_file")
    els.add("pick.info", gr.Markdown(elem_id="w-info"))

    with gr.Row(equal_height=False):
        with gr.Column():
            page.add(gr.Markdown(L("weights.import_head")), value="weights.import_head")
            els.add("import.file", gr.File(label=L("weights.import_file"), file_types=[".bin", ".safetensors"],
                                           type="filepath", elem_id="w-import-file"), label="weights.import_file")
            els.add("import.source", gr.Textbox(label=L("weights.import_source"),
                                                placeholder="gpt2 / /path/to/model.safetensors",
                                                elem_id="w-import-source", max_length=SOURCE_CHARS),
                    label="weights.import_source")
            els.add("import.name", gr.Textbox("gpt2-imported", label=L("weights.import_name"),
                                              elem_id="w-import-name", max_length=NAME_CHARS),
                    label="weights.import_name")
            els.add("import.go", gr.Button(L("weights.import"), variant="primary", elem_id="w-import"),
                    value="weights.import")
        with gr.Column():
            page.add(gr.Markdown(L("weights.hf_head")), value="weights.hf_head")
            page.add(gr.Markdown(L("weights.hf_intro")), value="weights.hf_intro")
            els.add("hf.zip", gr.File(label=L("weights.hf_zip"), file_types=[".zip"], type="filepath",
                                      elem_id="w-hf-zip"), label="weights.hf_zip")
            els.add("hf.folder", gr.Textbox(label=L("weights.hf_folder"), placeholder="/path/to/Qwen3-0.6B",
                                            elem_id="w-hf-folder", max_length=SOURCE_CHARS),
                    label="weights.hf_folder")
            els.add("hf.name", gr.Textbox(label=L("weights.hf_name"), placeholder=L("weights.hf_name_placeholder"),
                                          elem_id="w-hf-name", max_length=NAME_CHARS),
                    label="weights.hf_name", placeholder="weights.hf_name_placeholder")
            els.add("hf.go", gr.Button(L("weights.hf_import"), variant="primary", elem_id="w-hf-import"),
                    value="weights.hf_import")
        with gr.Column():
            page.add(gr.Markdown(L("weights.upload_head")), value="weights.upload_head")
            els.add("upload.file", gr.File(label=L("weights.upload_file"), file_types=[".safetensors"],
                                           type="filepath", elem_id="w-upload"), label="weights.upload_file")

    # ---- listing and selecting -------------------------------------------------------
    def listing(lang, current=None) -> tuple[str | None, dict]:
        """(the checkpoint selected after a listing, the table and the picker): `current` while
        it is still listed, else the newest."""
        rows = state.checkpoints_table()
        opts = [(("⚠️ " if is_damaged(r) else "") + r["name"], r["path"]) for r in rows]
        paths = [p for _, p in opts]
        value = current if current in paths else (paths[0] if paths else None)
        return value, {"list.table": table_of(rows, lang, state.checkpoints),
                       "pick.selected": gr.update(choices=opts, value=value)}

    def selection(path, lang) -> dict:
        """Everything that shows the selected checkpoint, read from its file now: the name
        offered for a rename and a download says its own task, data and step count."""
        shown = {"pick.confirm": gr.update(visible=False), "pick.message": ""}
        if not path:
            return {**shown, "pick.download": gr.update(value=None, interactive=False), "pick.new_name": "",
                    **{n: gr.update(interactive=False) for n in ACTING}}
        row = state.listed(path, lang)
        if is_damaged(row):  # listed so it can be deleted; never handed out or loaded
            return {**shown, "pick.download": gr.update(value=None, interactive=False),
                    "pick.new_name": Path(row["path"]).stem,
                    "pick.message": t(lang, "common.damaged", name=row["name"], reason=damage_reason(row, lang)),
                    **{n: gr.update(interactive=n == "pick.delete") for n in ACTING}}
        name = suggested_name(row)
        # never hand out anything but a checkpoint of the folder, under a name that says what it is
        file = state.download_as(path, f"{name}.safetensors", lang)
        return {**shown, "pick.download": gr.update(value=str(file), interactive=True), "pick.new_name": name,
                **{n: gr.update(interactive=True) for n in ACTING}}

    def on_list(v):
        return listing(v["lang"], v["pick.selected"])[1]

    def on_selected(v):
        return selection(v["pick.selected"], v["lang"])

    def on_reselected(v):
        """After an action that lists again (rename, delete, import, upload): the selected
        checkpoint shown as it is now, the action's own message kept."""
        try:
            return {k: u for k, u in selection(v["pick.selected"], v["lang"]).items() if k != "pick.message"}
        except PocketLLMError:  # the action's message already says what happened
            return {}

    def on_show(v):
        """The list and the selected checkpoint, as a page (re)load or a language switch shows
        them: read again here, as the file may have been trained further meanwhile."""
        value, out = listing(v["lang"], v["pick.selected"])
        try:
            return {**out, **selection(value, v["lang"])}
        except PocketLLMError as exc:  # e.g. deleted in another browser tab a moment ago: the list still shows
            return {**out, "pick.message": status_text(message_of(exc, v["lang"]), v["lang"])}

    def on_row(evt: gr.SelectData):
        """A click on a table row selects its checkpoint.  (A plain handler: the named elements
        do not carry Gradio's event data.)"""
        rows = state.checkpoints_table()
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return rows[row]["path"] if 0 <= row < len(rows) else gr.skip()

    pick = ["pick.selected", "lang"]
    kept = [n for n in SELECTION if n != "pick.message"]

    def then_show(event, fn=on_selected, outputs=SELECTION):
        """`event`, then the selected checkpoint shown as read now.  The picker's value set by
        a handler fires no event of its own worth trusting: set to the value it has (Refresh,
        a file trained further) it fires none, and a change event would also wipe the message
        of the action that set it."""
        handler = els.handler(fn, pick, outputs, status="pick.message" if "pick.message" in outputs else None)
        return event.then(handler, [els[n] for n in pick], [els[n] for n in outputs], show_progress="hidden")

    then_show(els.on(els["list.refresh"].click, on_list, pick, LISTING, api_name="weights_list"))
    if ctx.tab is not None:  # opened after a run: the new checkpoint is listed without pressing Refresh
        then_show(els.on(ctx.tab.select, on_list, pick, LISTING, show_progress="hidden"))
    els.on_load(on_show, pick, [*LISTING, *SELECTION], status="pick.message")
    then_show(els["list.table"].select(on_row, None, els["pick.selected"]))
    # A person's pick.  Named so tests can check it refuses what is not a checkpoint; the handler is the guard.
    els.on(els["pick.selected"].input, on_selected, pick, SELECTION, status="pick.message",
           show_progress="hidden", api_name="weights_select", api_visibility="undocumented")

    # ---- load (describe), rename, delete ------------------------------------------------
    def picked(v) -> str:
        if not v["pick.selected"]:
            raise PocketLLMError(t(v["lang"], "weights.pick_first"))
        return v["pick.selected"]

    def on_info(v):
        lang = v["lang"]
        path = state.checkpoint(picked(v), lang)
        ckpt = state.load(path, lang)
        ckpt.path = path
        described = describe(ckpt)  # once: it walks every parameter
        lines = [f"| {t(lang, 'weights.field')} | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary_rows(ckpt, described, lang, state.checkpoints)]  # escaped
        arch = getattr(ckpt.config, "arch", "gpt2")
        lines.insert(5, f"| {t(lang, 'weights.arch')} | {t(lang, f'weights.arch_{arch}')} |")  # after the shape
        lines += ["", f"| {t(lang, 'weights.component')} | {t(lang, 'weights.col_parameters')} | % |",
                  "|---|---:|---:|"]
        lines += [f"| {t(lang, 'plots.comp_' + r['component'])} | {r['parameters']:,} | {r['share']:.1%} |"
                  for r in described["components"]]
        card = card_markdown(card_of(ckpt.facts), lang)
        if card:
            lines += ["", card]
        return {"pick.info": "\n".join(lines)}

    def on_rename(v):
        lang = v["lang"]
        path = not_running(state, state.checkpoint(picked(v), lang), lang)
        # The core refuses the running job's file too, and updates the run's run.json.
        target = rename_checkpoint(state.checkpoints, path, new_file_name(v["pick.new_name"], lang),
                                   protect=state.running_checkpoint())
        state.models.forget(path)
        return {**listing(lang, str(target))[1],
                "pick.message": t(lang, "weights.renamed", name=target.relative_to(state.checkpoints))}

    def on_delete_ask(v):
        lang = v["lang"]
        if not v["pick.selected"]:
            return {"pick.confirm": gr.update(visible=False), "pick.confirm_text": t(lang, "weights.pick_first")}
        path = not_running(state, Path(state.listed(v["pick.selected"], lang)["path"]).resolve(), lang)
        return {"pick.confirm": gr.update(visible=True),
                "pick.confirm_text": t(lang, "weights.confirm", name=path.relative_to(state.checkpoints))}

    def on_delete(v):
        lang = v["lang"]
        path = not_running(state, Path(state.listed(picked(v), lang)["path"]).resolve(), lang)  # a damaged file too
        delete_checkpoint(state.checkpoints, path, protect=state.running_checkpoint())
        state.models.forget(path)
        return {**listing(lang)[1], "pick.confirm": gr.update(visible=False),
                "pick.message": t(lang, "weights.deleted", name=path.relative_to(state.checkpoints))}

    def on_cancel(v):
        return {"pick.confirm": gr.update(visible=False)}

    els.on(els["pick.load"].click, on_info, pick, ["pick.info"], status="pick.info", api_name="weights_info")
    then_show(els.on(els["pick.rename"].click, on_rename, ["pick.selected", "pick.new_name", "lang"],
                     [*LISTING, "pick.message"], status="pick.message", api_name="weights_rename"),
              on_reselected, kept)
    els.on(els["pick.delete"].click, on_delete_ask, pick, ["pick.confirm", "pick.confirm_text"],
           status="pick.confirm_text", api_name="weights_delete_ask", api_visibility="undocumented")
    els.on(els["pick.confirm_no"].click, on_cancel, [], ["pick.confirm"], api_visibility="private")
    then_show(els.on(els["pick.confirm_yes"].click, on_delete, pick, [*LISTING, "pick.confirm", "pick.message"],
                     status="pick.message", api_name="weights_delete"), on_reselected, kept)

    # ---- export ----------------------------------------------------------------------
    def on_export(v):
        lang = v["lang"]
        path = state.checkpoint(picked(v), lang)
        ckpt = state.load(path, lang)
        folder = state.scratch("export") / f"{suggested_name(state.listed(path, lang))}-hf"
        # The checkpoint, not its bare model: its own tokenizer goes along (bpe, char or gpt2),
        # as the command line's export-hf does.
        export_hf(ckpt, folder)
        archive = folder.with_suffix(".zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # weights do not compress
            for item in sorted(folder.iterdir()):
                zf.write(item, f"{folder.name}/{item.name}")
        shutil.rmtree(folder)
        return {"pick.export_file": gr.update(value=str(archive), visible=True),
                "pick.message": t(lang, "weights.exported", name=archive.name)}

    els.on(els["pick.export"].click, on_export, pick, ["pick.export_file", "pick.message"], status="pick.message",
           api_name="weights_export", concurrency_id="model_cpu")

    # ---- import GPT-2, upload a checkpoint ----------------------------------------------------
    def new_path(folder: str, name: str, lang) -> Path:
        target = state.checkpoints / folder / f"{name}.safetensors"
        if target.exists():
            raise PocketLLMError(t(lang, "weights.exists", name=target.relative_to(state.checkpoints)))
        return target

    def on_import(v):
        lang, file, source = v["lang"], v["import.file"], v["import.source"]
        origin = file or import_source(state, source.strip() if isinstance(source, str) else "", lang)
        if not origin:
            raise PocketLLMError(t(lang, "weights.import_need"))
        target = new_path("imported", safe_name(str(v["import.name"] or "")[:NAME_CHARS], "gpt2-imported"), lang)
        ckpt = import_gpt2(origin)
        ckpt.facts["imported_from"] = Path(file).name if file else origin
        save_checkpoint(target, ckpt.model, ckpt.task, ckpt.facts, overwrite=False, tokenizer=ckpt.tokenizer)
        return {**listing(lang, str(target))[1],
                "pick.message": t(lang, "weights.imported", name=target.relative_to(state.checkpoints),
                                  params=f"{ckpt.config.num_parameters():,}")}

    def hf_origin(v) -> tuple[str, str]:
        """(where the folder is named from, its name): the zip sent, else the path typed, which the
        page reads only when it is this computer's alone (as the GPT-2 import's)."""
        lang, file, folder = v["lang"], v["hf.zip"], v["hf.folder"]
        if file:
            return "zip", str(file)
        folder = folder.strip() if isinstance(folder, str) else ""
        if not folder:
            raise PocketLLMError(t(lang, "weights.hf_need"))
        if len(folder) > SOURCE_CHARS:
            raise PocketLLMError(t(lang, "weights.long_source", limit=f"{SOURCE_CHARS:,}"))
        if not state.local_paths:
            raise PocketLLMError(t(lang, "weights.hf_no_local_paths"))
        return "folder", folder

    def on_import_hf(v):
        """A Hugging Face folder (any family) -> checkpoints/imported/<name>.safetensors, through the
        core's `import_hf` (the command line's import-hf); each stage said as it starts."""
        lang = v["lang"]
        how, origin = hf_origin(v)
        shown_name = Path(origin).name
        if how == "zip":
            shown_name = shown_name.removesuffix(".zip")
        name = safe_name(str(v["hf.name"] or "")[:NAME_CHARS] or shown_name, "hf-imported")
        target = new_path("imported", name, lang)  # said before any work: nothing is overwritten
        scratch = state.scratch("hf-import")
        try:
            folder = Path(origin)
            if how == "zip":
                yield {"pick.message": t(lang, "weights.hf_unzipping", name=Path(origin).name)}
                folder = unzip_folder(origin, scratch, lang)
            yield {"pick.message": t(lang, "weights.hf_reading", name=shown_name)}
            ckpt = import_hf(folder)
            note = ckpt.facts.get("tokenizer_note")
            ckpt.facts["imported_from"] = Path(origin).name if how == "zip" else origin
            yield {"pick.message": t(lang, "weights.hf_saving", name=target.relative_to(state.checkpoints))}
            target.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(target, ckpt.model, ckpt.task, ckpt.facts, overwrite=False,
                            tokenizer=None if note else ckpt.tokenizer)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        c = ckpt.config
        said = t(lang, "weights.hf_imported", name=target.relative_to(state.checkpoints),
                 arch=t(lang, f"pretrain.arch_{c.arch}"), params=f"{c.num_parameters():,}", layers=c.num_layers,
                 width=c.emb_dim, heads=c.num_heads, kv_heads=c.num_kv_heads,
                 tokenizer=t(lang, "weights.hf_tokenizer_gpt2" if note or c.arch == "gpt2"
                             else "weights.hf_tokenizer_own"))
        if note:
            said = Markup(f"{said}  \n{t(lang, 'weights.hf_tokenizer_note')}")
        yield {**listing(lang, str(target))[1], "pick.message": said}

    def on_upload(v):
        lang, file = v["lang"], v["upload.file"]
        if not file:
            return {}
        try:
            header = read_header(file)  # ours? (a clear message if not)
        except NotACheckpoint:  # e.g. GPT-2 from Hugging Face: that is the Import section's job
            raise PocketLLMError(t(lang, "weights.upload_not_ours", name=Path(file).name)) from None
        load_model(file)  # and whole: every tensor fits its config
        target = new_path("uploads", safe_name(Path(file).stem, "uploaded"), lang)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # whole or not at all: a full disk leaves no half file, and says so in the page's words
            atomic_write(target, lambda tmp: shutil.copyfile(file, tmp), fsync=True)
        except (PocketLLMError, OSError) as exc:
            refusal = upload_refusal(exc, file, lang)
            if refusal is None:
                raise
            raise refusal from None
        kind = task_kind(header["task"].get("type")) or TaskKind.PRETRAIN
        return {**listing(lang, str(target))[1],
                "pick.message": t(lang, "weights.uploaded", name=target.relative_to(state.checkpoints),
                                  task=t(lang, f"weights.task_{kind}"))}

    then_show(els.on(els["import.go"].click, on_import, ["import.file", "import.source", "import.name", "lang"],
                     [*LISTING, "pick.message"], status="pick.message", api_name="weights_import",
                     concurrency_id="model_cpu"), on_reselected, kept)
    then_show(els.on(els["hf.go"].click, on_import_hf, ["hf.zip", "hf.folder", "hf.name", "lang"],
                     [*LISTING, "pick.message"], status="pick.message", api_name="weights_import_hf",
                     concurrency_id="model_cpu"), on_reselected, kept)
    then_show(els.on(els["upload.file"].upload, on_upload, ["upload.file", "lang"], [*LISTING, "pick.message"],
                     status="pick.message", api_name="weights_upload"), on_reselected, kept)
