"""`inspect`: look inside a language model from the terminal, as text tables.

The numbers come from `pocketllm.inspect`, the same functions the app draws.
Columns are aligned by display width: a Chinese character takes two cells.
"""
from __future__ import annotations

import shutil
import unicodedata

from ..errors import PocketLLMError
from ..kinds import TaskKind
from ._common import add_sampling_args, open_model, sampling_from_args

VIEWS = ("tokens", "next", "attention", "lens", "params")
MATRIX_MAX_TOKENS = 20  # longer prompts get a top-3 list per token instead of the full matrix


def register(sub):
    p = sub.add_parser(
        "inspect", help="look inside a language model: tokens, next-token odds, attention, logit lens",
        description="Show what a language model does with a prompt: its tokens, the next-token "
                    "candidates before and after temperature/top-k/top-p, attention weights, the "
                    "logit lens (what each layer would predict) and where its parameters are.")
    p.add_argument("--model_path", default="model.safetensors",
                   help="checkpoint or GPT-2 weights file (default model.safetensors)")
    p.add_argument("--config", default=None,
                   help="model config (preset name or JSON); only needed for the seed's .pth files")
    p.add_argument("--prompt", default=None, help="the text to look at (not needed for --what params)")
    p.add_argument("--what", default="all", choices=VIEWS + ("all",), help="which view (default all)")
    p.add_argument("--top", type=int, default=10, help="how many next-token candidates to list (default 10)")
    p.add_argument("--layer", type=int, default=None,
                   help="attention: block number 1..L (default: the last block)")
    p.add_argument("--head", type=int, default=None,
                   help="attention: head number 1..H (default: the mean over all heads)")
    p.add_argument("--dtype", default=None, help="fp32 (default), bf16 or fp16")
    add_sampling_args(p.add_argument_group("sampling, for --what next (the generate command's flags)"),
                      temperature_default=1.0)
    p.set_defaults(run=run)


def run(args):
    from .. import inspect as look
    views = VIEWS if args.what == "all" else (args.what,)
    needs_prompt = [v for v in views if v != "params"]
    if needs_prompt and args.prompt is None:
        raise PocketLLMError("--what {what} needs --prompt \"some text\" (an empty \"\" is allowed).",
                             code="inspect.needs_prompt", what=args.what)
    ckpt = open_model(args)
    if needs_prompt and ckpt.task_type == TaskKind.CLASSIFY:
        raise PocketLLMError("inspect works on language models; this checkpoint is a classifier. "
                             "Use --what params, or inspect the language model it was finetuned from.",
                             code="inspect.classifier_cli")
    model = ckpt.model
    sections = []
    for view in views:
        if view == "tokens":
            sections.append(show_tokens(look.tokens(args.prompt, ckpt.tokenizer, context_length=model.cfg.context_length)))
        elif view == "next":
            sections.append(show_next(look.next_token(ckpt, args.prompt, sampling_from_args(args), n=args.top)))
        elif view == "attention":
            sections.append(show_attention(look.attention(ckpt, args.prompt), args.layer, args.head))
        elif view == "lens":
            sections.append(show_lens(look.logit_lens(ckpt, args.prompt)))
        elif view == "params":
            sections.append(show_params(look.parameter_map(model)))
    print("\n\n".join(sections))
    return 0


# ---- text layout -------------------------------------------------------------

def cells(text: str) -> int:
    """Terminal cells a string takes: wide (CJK) characters 2, combining marks 0."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def clip(text: str, width: int) -> str:
    if cells(text) <= width:
        return text
    out = ""
    for c in text:
        if cells(out + c) > width - 1:
            break
        out += c
    return out + "…"


def pad(text: str, width: int, align: str = "<") -> str:
    gap = " " * max(0, width - cells(text))
    return text + gap if align == "<" else gap + text


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """Aligned columns; `align` has one '<' or '>' per column (default: first left, rest right)."""
    align = align or "<" + ">" * (len(headers) - 1)
    widths = [max(cells(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(pad(str(h), w, a) for h, w, a in zip(headers, widths, align)).rstrip()]
    lines.append("  ".join("-" * w for w in widths).rstrip())
    lines += ["  ".join(pad(str(x), w, a) for x, w, a in zip(row, widths, align)).rstrip() for row in rows]
    return "\n".join(lines)


def wide_table(row_header: str, row_labels: list[str], col_labels: list[str],
               grid: list[list[str]], cell_width: int) -> str:
    """A grid too wide for the terminal is printed in several bands of columns."""
    term = shutil.get_terminal_size((100, 24)).columns
    label_w = max(cells(x) for x in [row_header] + row_labels)
    per_band = max(1, (term - label_w) // (cell_width + 2))
    bands = []
    for start in range(0, len(col_labels), per_band):
        cols = range(start, min(start + per_band, len(col_labels)))
        head = pad(row_header, label_w) + "".join(
            "  " + pad(clip(col_labels[j], cell_width), cell_width) for j in cols)
        body = [pad(r, label_w) + "".join("  " + pad(clip(grid[i][j], cell_width), cell_width)
                                          for j in cols)
                for i, r in enumerate(row_labels)]
        bands.append("\n".join([head.rstrip()] + [b.rstrip() for b in body]))
    return "\n\n".join(bands)


def tail(text: str, width: int) -> str:
    """The end of a long text (what the model read last matters most)."""
    if cells(text) <= width:
        return text
    out = ""
    for c in reversed(text):
        if cells(c + out) > width - 1:
            break
        out = c + out
    return "…" + out


def prob(p: float) -> str:
    return f"{p:.4f}" if p == 0 or p >= 1e-4 else f"{p:.1e}"


def percent(p: float) -> str:
    if p >= 0.01:
        return f"{p:.0%}"
    return f"{p:.1%}" if p >= 0.001 else f"{p:.0e}"


def notes(res) -> list[str]:
    out = []
    if res.empty_prompt:
        out.append("note: the prompt is empty, so the model starts from <|endoftext|> "
                   "(as generation does).")
    if res.dropped:
        out.append(f"note: the prompt is longer than the context; its first {res.dropped} tokens "
                   f"were dropped and the last {len(res.ids)} kept (as generation does).")
    return out


# ---- the views ---------------------------------------------------------------

def show_tokens(view) -> str:
    lines = [f"== tokens: {len(view.ids)} tokens, {len(view.prompt)} characters =="]
    if view.dropped:
        lines.append(f"note: the model's context holds {len(view.ids) - view.dropped} tokens; "
                     f"the first {view.dropped} would be dropped.")
    rows = []
    for t in view.tokens:
        unit = view.units[t.unit]
        part = f"piece of {unit.text!r}" if t.partial else ""
        rows.append([str(t.index), str(t.id), t.label, t.bytes, part])
    lines.append(table(["#", "id", "token", "bytes", ""], rows, "<><<<"))
    split = [u for u in view.units if u.partial]
    if split:
        lines.append("\ncharacters split into byte pieces: "
                     + ", ".join(f"{u.text} = {'+'.join(map(str, u.ids))}" for u in split))
    return "\n".join(lines)


def show_next(res) -> str:
    s = res.sampling
    filters = [f"temperature {s.temperature:g}"]
    for name, off in (("top_k", None), ("top_p", None), ("min_p", None), ("repetition_penalty", 1.0),
                      ("frequency_penalty", 0.0), ("presence_penalty", 0.0)):
        if getattr(s, name) != off:
            filters.append(f"{name} {getattr(s, name):g}")
    lines = [f"== next token after {tail(res.text, 40)!r} ({', '.join(filters)}) =="] + notes(res)
    rows = []
    for c in res.candidates:
        bar = "█" * round(c.prob_after * 20)
        rows.append([str(c.rank), str(c.id), c.label, prob(c.prob), prob(c.prob_scaled),
                     prob(c.prob_after), c.cut_by or "", bar])
    lines.append(table(["rank", "id", "token", "p", "p(temp)", "p(after)", "cut by", ""], rows,
                       ">><>>><<"))  # numbers to the right: rank 10 lines up under rank 9
    lines.append(f"others: p {res.other_prob:.2%}, after {res.other_prob_after:.2%}.  "
                 f"{res.kept_tokens} tokens can still be drawn, holding {res.kept_mass:.1%} of the "
                 f"plain probability; entropy {res.entropy:.2f} → {res.entropy_after:.2f} bits.")
    if res.utf8_removed:
        lines.append(f"cut by utf8: {res.utf8_removed:,} tokens that would start with half a character "
                     f"(a byte piece, shown as <hex>) are never drawn here ({res.utf8_removed_mass:.1%} of the "
                     f"plain probability); --allow_broken_chars keeps them.")
    return "\n".join(lines)


def show_attention(res, layer: int | None, head: int | None) -> str:
    layer = res.num_layers if layer is None else layer
    matrix = res.matrix(layer, head)  # checks the numbers
    which = f"block {layer}, " + (f"head {head}" if head is not None else f"mean of {res.num_heads} heads")
    lines = [f"== attention, {which} (rows: each token; columns: the tokens it looks at) =="] + notes(res)
    n = len(res.labels)
    rows = [f"{i} {lab}" for i, lab in enumerate(res.labels)]
    if n <= MATRIX_MAX_TOKENS:
        grid = [["·" if j > i else f"{matrix[i][j]:.2f}" for j in range(n)] for i in range(n)]
        lines.append(wide_table("", rows, [f"{j} {lab}" for j, lab in enumerate(res.labels)], grid, 6))
    else:
        lines.append(f"({n} tokens: too many for a matrix; the 3 tokens each one looks at most)")
        body = []
        for i in range(n):
            best = sorted(range(i + 1), key=lambda j: -matrix[i][j])[:3]
            body.append([rows[i]] + [f"{j} {clip(res.labels[j], 10)} {matrix[i][j]:.2f}" for j in best]
                        + [""] * (3 - len(best)))
        lines.append(table(["token", "1st", "2nd", "3rd"], body, "<<<<"))
    return "\n".join(lines)


def show_lens(res) -> str:
    lines = ["== logit lens: the token each layer would predict next (with its probability) =="] + notes(res)
    if res.first:
        lines.append(f"note: the lens shows the last {len(res.lens_labels)} positions (each one costs the output "
                     f"head once per layer); the model read all {len(res.labels)} tokens.")
    cols = [f"{res.first + j} {lab}" for j, lab in enumerate(res.lens_labels)]
    grid = [[f"{lab[0]} {percent(p[0])}" for lab, p in zip(labs, probs)]
            for labs, probs in zip(res.pred_labels, res.pred_probs)]
    lines.append(wide_table("layer \\ token", res.layers, cols, grid, 12))
    return "\n".join(lines)


def show_params(pm) -> str:
    from ..describe import human_bytes
    lines = [f"== parameters: {pm.total_parameters:,} ({human_bytes(pm.total_bytes)})"
             + (", output head tied to the token embedding" if pm.tied else "") + " =="]
    rows = [[r["component"], f"{r['parameters']:,}", f"{r['share']:.1%}", human_bytes(r["bytes"]),
             ", ".join(r["dtypes"])] for r in pm.components]
    rows.append(["total", f"{pm.total_parameters:,}", "100.0%", human_bytes(pm.total_bytes), ""])
    lines.append(table(["component", "parameters", "share", "bytes", "dtype"], rows, "<>>><"))
    lines.append("")
    lines.append(table(["dtype", "parameters", "bytes"],
                       [[d["dtype"], f"{d['parameters']:,}", human_bytes(d["bytes"])] for d in pm.dtypes]))
    lines.append(f"\nFLOPs per token (forward, at T = {pm.context} tokens of context): "
                 f"2 × {pm.matmul_parameters:,} matmul weights + 4 × layers × T × emb_dim")
    rows = [[r["component"], f"{r['flops']:,}", f"{r['flops'] / pm.flops_per_token:.1%}"] for r in pm.flops]
    rows.append(["forward", f"{pm.flops_per_token:,}", "100.0%"])
    rows.append(["training (≈3×)", f"{pm.train_flops_per_token:,}", ""])
    lines.append(table(["", "FLOPs", "share"], rows))
    return "\n".join(lines)
