"""Weights tab: every checkpoint in a table; load (describe), rename, delete (after a
confirmation), download; import GPT-2 weights; export to the Hugging Face layout as a
zip; upload a PocketLLM checkpoint."""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import NotACheckpoint, PocketLLMError, describe, export_hf, import_gpt2, load_model, read_header, save_checkpoint
from pocketllm import TaskKind, delete_checkpoint, rename_checkpoint, task_kind

from ..core_errors import coded_message
from ..describe import base_name, summary_rows
from ..errors import friendly
from ..i18n import t
from ..limits import NAME_CHARS, SOURCE_CHARS
from ..state import AppState

COLUMNS = ["name", "task", "tokenizer", "data", "base", "parameters", "size_mb", "trained", "score"]
TASKS = (*(k.value for k in TaskKind), "damaged")


def is_damaged(row: dict) -> bool:
    return bool(row.get("damaged")) or row.get("task") == "damaged"


def trained_at(row: dict) -> str:
    """When the model was saved by its training run, from the file's own facts (an uploaded
    or copied file keeps it); the file's date only for files without it."""
    saved = (row.get("facts") or {}).get("saved_at")
    if isinstance(saved, str) and len(saved) >= 16 and saved[10] == "T":
        return f"{saved[:10]} {saved[11:16]}"
    return row.get("created", "")


def data_name(facts: dict) -> str:
    """What it learnt from: the corpus or data set, or where imported weights came from."""
    return str(facts.get("data") or facts.get("imported_from") or "—")


def score_text(facts: dict, lang) -> str:
    if isinstance(facts.get("val_accuracy"), (int, float)):
        return t(lang, "weights.score_accuracy", value=f"{facts['val_accuracy']:.1%}")
    if isinstance(facts.get("best_val_loss"), (int, float)):
        return t(lang, "weights.score_loss", value=f"{facts['best_val_loss']:.3f}")
    return ""


def suggested_name(row: dict) -> str:
    """A name that says which model it is: every run saves `model.safetensors`, so that one
    is offered (for a rename or a download) as `<task>-<data>-step<N>`."""
    path, facts = Path(row["path"]), row.get("facts") or {}
    if path.stem != "model" or not isinstance(facts.get("steps"), int):
        return path.stem
    kind = task_kind(row.get("task")) or TaskKind.PRETRAIN
    data = Path(str(facts.get("data") or "")).stem
    return safe_name("-".join(x for x in (str(kind), data, f"step{facts['steps']}") if x), path.stem)


def damage_reason(row: dict, lang) -> str:
    """Why a listed file cannot be loaded, in the page's language."""
    return coded_message(row.get("error_code", ""), row.get("error_values") or {}, row.get("score", ""), lang)


def shown_row(row: dict, lang) -> dict:
    """A catalog row as the table shows it, in the page's language; a damaged file says
    why in the score column."""
    task = str(task_kind(row.get("task")) or row.get("task", ""))
    facts = row.get("facts") or {}
    out = {"name": row.get("name", ""), "tokenizer": row.get("tokenizer", ""), "size_mb": row.get("size_mb", ""),
           "task": t(lang, f"weights.task_{task}") if task in TASKS else task,
           "data": data_name(facts), "base": base_name(facts, lang), "trained": trained_at(row)}
    if is_damaged(row):
        out.update(parameters="—", tokenizer="—", data="—", base="—",
                   score=t(lang, "weights.damaged_reason", reason=damage_reason(row, lang)))
    else:
        out.update(parameters=f"{int(row.get('parameters') or 0):,}", score=score_text(facts, lang))
    return out


def table(state, lang="en") -> pd.DataFrame:
    rows = state.checkpoints_table()
    frame = pd.DataFrame([shown_row(r, lang) for r in rows], columns=COLUMNS)
    frame.columns = [t(lang, f"weights.col_{c}") for c in COLUMNS]
    return frame


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


def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text

    page.add(gr.Markdown(L("weights.intro")), value="weights.intro")
    with gr.Row():
        refresh = page.add(gr.Button(L("weights.refresh"), size="sm", elem_id="w-refresh"), value="weights.refresh")
    grid = gr.Dataframe(interactive=False, elem_id="w-table", wrap=True, max_height=320,
                        column_widths=["22%", "8%", "7%", "12%", "12%", "9%", "6%", "11%", "13%"])  # fits 1366 px
    with gr.Row(equal_height=True):
        selected = page.add(gr.Dropdown([], label=L("weights.selected"), scale=3, elem_id="w-selected",
                                        allow_custom_value=False),
                            label="weights.selected")
        # The buttons that act on the selected checkpoint look enabled only once one is selected.
        info_btn = page.add(gr.Button(L("weights.load"), scale=1, elem_id="w-load", interactive=False),
                            value="weights.load")
        download = page.add(gr.DownloadButton(L("weights.download"), scale=1, elem_id="w-download",
                                              interactive=False), label="weights.download")
        export_btn = page.add(gr.Button(L("weights.export"), scale=1, min_width=220, elem_id="w-export",
                                        interactive=False), value="weights.export")
    with gr.Row(equal_height=True):
        new_name = page.add(gr.Textbox(label=L("weights.new_name"), scale=3, elem_id="w-new-name",
                                       max_length=NAME_CHARS),
                            label="weights.new_name")
        rename_btn = page.add(gr.Button(L("weights.rename"), scale=1, elem_id="w-rename", interactive=False),
                              value="weights.rename")
        delete_btn = page.add(gr.Button(L("weights.delete"), variant="stop", scale=1, elem_id="w-delete",
                                        interactive=False), value="weights.delete")
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown(elem_id="w-confirm-text")
        confirm_yes = page.add(gr.Button(L("weights.confirm_yes"), variant="stop", elem_id="w-confirm-yes"),
                               value="weights.confirm_yes")
        confirm_no = page.add(gr.Button(L("weights.confirm_no"), elem_id="w-confirm-no"), value="weights.confirm_no")
    message = gr.Markdown(elem_id="w-message")
    export_file = page.add(gr.File(label=L("weights.export_file"), visible=False, elem_id="w-export-file"),
                           label="weights.export_file")
    info = gr.Markdown(elem_id="w-info")

    with gr.Row(equal_height=False):
        with gr.Column():
            page.add(gr.Markdown(L("weights.import_head")), value="weights.import_head")
            gpt2_file = page.add(gr.File(label=L("weights.import_file"), file_types=[".bin", ".safetensors"],
                                         type="filepath", elem_id="w-import-file"), label="weights.import_file")
            gpt2_source = page.add(gr.Textbox(label=L("weights.import_source"), placeholder="gpt2 / /path/to/model.safetensors",
                                              elem_id="w-import-source", max_length=SOURCE_CHARS),
                                   label="weights.import_source")
            gpt2_name = page.add(gr.Textbox("gpt2-imported", label=L("weights.import_name"), elem_id="w-import-name",
                                            max_length=NAME_CHARS),
                                 label="weights.import_name")
            import_btn = page.add(gr.Button(L("weights.import"), variant="primary", elem_id="w-import"),
                                  value="weights.import")
        with gr.Column():
            page.add(gr.Markdown(L("weights.upload_head")), value="weights.upload_head")
            upload = page.add(gr.File(label=L("weights.upload_file"), file_types=[".safetensors"], type="filepath",
                                      elem_id="w-upload"), label="weights.upload_file")

    # ---- listing and selecting -------------------------------------------------------
    def choices():
        return [(("⚠️ " if is_damaged(r) else "") + r["name"], r["path"]) for r in state.checkpoints_table()]

    def on_list(current, lang):
        opts = choices()
        paths = [p for _, p in opts]
        value = current if current in paths else (paths[0] if paths else None)
        return table(state, lang), gr.update(choices=opts, value=value)

    def on_select(evt: gr.SelectData):
        rows = state.checkpoints_table()
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return rows[row]["path"] if 0 <= row < len(rows) else gr.skip()

    acting = [info_btn, export_btn, rename_btn, delete_btn]  # what a selected checkpoint enables

    @friendly(outputs=8, status=3)
    def on_selected(path, lang):
        if not path:
            return (gr.update(value=None, interactive=False), gr.update(visible=False), "", "",
                    *[gr.update(interactive=False)] * len(acting))
        row = state.listed(path, lang)
        if is_damaged(row):  # listed so it can be deleted; never handed out or loaded
            return (gr.update(value=None, interactive=False), gr.update(visible=False), Path(row["path"]).stem,
                    t(lang, "common.damaged", name=row["name"], reason=damage_reason(row, lang)),
                    *[gr.update(interactive=False)] * 3, gr.update(interactive=True))  # delete only
        name = suggested_name(row)
        # never hand out anything but a checkpoint of the folder, under a name that says what it is
        file = state.download_as(path, f"{name}.safetensors", lang)
        return (gr.update(value=str(file), interactive=True), gr.update(visible=False), name, "",
                *[gr.update(interactive=True)] * len(acting))

    refresh.click(on_list, [selected, ctx.lang], [grid, selected], api_name="weights_list")
    ctx.on_load(on_list, [selected, ctx.lang], [grid, selected])
    grid.select(on_select, None, selected)
    # Named so tests can check it refuses what is not a checkpoint; the handler is the guard.
    selected.change(on_selected, [selected, ctx.lang], [download, confirm_row, new_name, message, *acting],
                    show_progress="hidden",
                    api_name="weights_select", api_visibility="undocumented")

    def listing(lang, current=None):
        frame, drop = on_list(current, lang)
        return frame, drop

    # ---- load (describe), rename, delete ------------------------------------------------
    @friendly(outputs=1, status=0)
    def on_info(path, lang):
        if not path:
            raise PocketLLMError(t(lang, "weights.pick_first"))
        path = state.checkpoint(path, lang)
        ckpt = state.load(path, lang)
        ckpt.path = path
        described = describe(ckpt)  # once: it walks every parameter
        lines = [f"| {t(lang, 'weights.field')} | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary_rows(ckpt, described, lang)]
        lines += ["", f"| {t(lang, 'weights.component')} | {t(lang, 'weights.col_parameters')} | % |", "|---|---:|---:|"]
        lines += [f"| {t(lang, 'plots.comp_' + r['component'])} | {r['parameters']:,} | {r['share']:.1%} |"
                  for r in described["components"]]
        return "\n".join(lines)

    @friendly(outputs=3, status=2)
    def on_rename(path, name, lang):
        if not path:
            raise PocketLLMError(t(lang, "weights.pick_first"))
        path = not_running(state, state.checkpoint(path, lang), lang)
        # The core refuses the running job's file too, and updates the run's run.json.
        target = rename_checkpoint(state.checkpoints, path, new_file_name(name, lang),
                                   protect=state.running_checkpoint())
        state.models.forget(path)
        frame, drop = listing(lang, str(target))
        return frame, drop, t(lang, "weights.renamed", name=target.relative_to(state.checkpoints))

    @friendly(outputs=2, status=1)
    def on_delete_ask(path, lang):
        if not path:
            return gr.update(visible=False), t(lang, "weights.pick_first")
        path = not_running(state, Path(state.listed(path, lang)["path"]).resolve(), lang)
        return gr.update(visible=True), t(lang, "weights.confirm", name=path.relative_to(state.checkpoints))

    @friendly(outputs=4, status=3)
    def on_delete(path, lang):
        if not path:
            raise PocketLLMError(t(lang, "weights.pick_first"))
        path = not_running(state, Path(state.listed(path, lang)["path"]).resolve(), lang)  # a damaged file too
        delete_checkpoint(state.checkpoints, path, protect=state.running_checkpoint())
        state.models.forget(path)
        frame, drop = listing(lang)
        return frame, drop, gr.update(visible=False), t(lang, "weights.deleted",
                                                        name=path.relative_to(state.checkpoints))

    info_btn.click(on_info, [selected, ctx.lang], info, api_name="weights_info")
    rename_btn.click(on_rename, [selected, new_name, ctx.lang], [grid, selected, message], api_name="weights_rename")
    delete_btn.click(on_delete_ask, [selected, ctx.lang], [confirm_row, confirm_text], api_name="weights_delete_ask",
                     api_visibility="undocumented")
    confirm_no.click(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private")
    confirm_yes.click(on_delete, [selected, ctx.lang], [grid, selected, confirm_row, message],
                      api_name="weights_delete")

    # ---- export ----------------------------------------------------------------------
    @friendly(outputs=2, status=1)
    def on_export(path, lang):
        if not path:
            raise PocketLLMError(t(lang, "weights.pick_first"))
        path = state.checkpoint(path, lang)
        ckpt = state.load(path, lang)
        folder = state.scratch("export") / (path.stem + "-hf")
        export_hf(ckpt.model, folder)
        archive = folder.with_suffix(".zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # weights do not compress
            for item in sorted(folder.iterdir()):
                zf.write(item, f"{folder.name}/{item.name}")
        shutil.rmtree(folder)
        return gr.update(value=str(archive), visible=True), t(lang, "weights.exported", name=archive.name)

    export_btn.click(on_export, [selected, ctx.lang], [export_file, message], api_name="weights_export",
                     concurrency_id="model_cpu")

    # ---- import GPT-2, upload a checkpoint ----------------------------------------------------
    def new_path(folder: str, name: str, lang) -> Path:
        target = state.checkpoints / folder / f"{name}.safetensors"
        if target.exists():
            raise PocketLLMError(t(lang, "weights.exists", name=target.relative_to(state.checkpoints)))
        return target

    @friendly(outputs=3, status=2)
    def on_import(file, source, name, lang):
        origin = file or import_source(state, (source or "").strip() if isinstance(source, str) else "", lang)
        if not origin:
            raise PocketLLMError(t(lang, "weights.import_need"))
        target = new_path("imported", safe_name(str(name or "")[:NAME_CHARS], "gpt2-imported"), lang)
        ckpt = import_gpt2(origin)
        ckpt.facts["imported_from"] = Path(file).name if file else origin
        save_checkpoint(target, ckpt.model, ckpt.task, ckpt.facts, overwrite=False)
        frame, drop = listing(lang, str(target))
        return frame, drop, t(lang, "weights.imported", name=target.relative_to(state.checkpoints),
                              params=f"{ckpt.config.num_parameters():,}")

    @friendly(outputs=3, status=2)
    def on_upload(file, lang):
        if not file:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            header = read_header(file)  # ours? (a clear message if not)
        except NotACheckpoint:  # e.g. GPT-2 from Hugging Face: that is the Import section's job
            raise PocketLLMError(t(lang, "weights.upload_not_ours", name=Path(file).name)) from None
        load_model(file)  # and whole: every tensor fits its config
        target = new_path("uploads", safe_name(Path(file).stem, "uploaded"), lang)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        frame, drop = listing(lang, str(target))
        return frame, drop, t(lang, "weights.uploaded", name=target.relative_to(state.checkpoints),
                              task=t(lang, f"weights.task_{task_kind(header['task'].get('type')) or TaskKind.PRETRAIN}"))

    import_btn.click(on_import, [gpt2_file, gpt2_source, gpt2_name, ctx.lang], [grid, selected, message],
                     api_name="weights_import", concurrency_id="model_cpu")
    upload.upload(on_upload, [upload, ctx.lang], [grid, selected, message], api_name="weights_upload")
