"""Classification tables: a CSV or TSV file → (text, label) examples.

The file may come with or without a header (the UCI SMS Spam Collection is
`ham<TAB>Ok lar...` with none), with any delimiter among , TAB ; |.  The text
column is the one with the longest values on average, the label column the one
with few distinct values; both can be named instead (header name or 0-based
index).  Rows without text or label are dropped and counted, never silently.

    table = read_table("data/classify/spam.csv")
    table.labels         # ['ham', 'spam'] (sorted: the class ids are stable)
    splits = stratified_split(table.label_ids, (0.7, 0.1, 0.2), seed=123)
"""
from __future__ import annotations

import csv
import io
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PocketLLMError
from .text import read_text

DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
MAX_CLASSES = 100


@dataclass
class Table:
    """Labelled texts read from a table, and how they were found."""
    texts: list[str]
    labels: list[str]                 # class names, sorted; class id = position
    label_ids: list[int]              # one per text
    text_column: str
    label_column: str
    delimiter: str
    header: bool
    rows: int                         # data rows in the file
    dropped: dict = field(default_factory=dict)  # reason -> count
    source: str = ""
    columns: list[str] = field(default_factory=list)  # every column's name (header, or "column N")

    def __len__(self):
        return len(self.texts)

    def balance(self) -> dict[str, int]:
        counts = Counter(self.label_ids)
        return {name: counts.get(i, 0) for i, name in enumerate(self.labels)}

    def summary(self) -> dict:
        return {"source": self.source, "rows": self.rows, "examples": len(self.texts),
                "text_column": self.text_column, "label_column": self.label_column,
                "delimiter": DELIMITER_NAMES.get(self.delimiter, self.delimiter),
                "header": self.header, "labels": list(self.labels), "balance": self.balance(),
                "dropped": dict(self.dropped)}

    def subset(self, indices) -> "Table":
        return Table([self.texts[i] for i in indices], self.labels, [self.label_ids[i] for i in indices],
                     self.text_column, self.label_column, self.delimiter, self.header, self.rows,
                     dict(self.dropped), self.source, list(self.columns))


# ---- parsing -------------------------------------------------------------------

def _parse(text: str, delimiter: str) -> list[list[str]]:
    if delimiter == "\t":
        # TSVs such as the SMS Spam Collection leave stray quotes in messages; read
        # fields literally and only strip quotes that wrap a whole field.
        rows = [line.split("\t") for line in text.splitlines()]
        return [[_unquote(v) for v in row] for row in rows]
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most consistent ≥2 columns."""
    sample = "\n".join(text.splitlines()[:200])
    best, best_score = None, 0.0
    for delim in DELIMITERS:
        try:
            rows = [r for r in _parse(sample, delim) if any(v.strip() for v in r)]
        except csv.Error:
            continue
        if len(rows) > 1:
            rows = rows[:-1]  # the sample may cut the last row short
        if not rows:
            continue
        widths = Counter(len(r) for r in rows)
        width, count = widths.most_common(1)[0]
        if width < 2:
            continue
        score = count / len(rows) + (0.01 if delim == "\t" else 0)  # a tab rarely sits inside text
        if score > best_score:
            best, best_score = delim, score
    if best is None:
        raise PocketLLMError(
            "Could not find two columns (a label and a text) separated by a comma, tab, semicolon "
            "or |. A classification table needs one row per example: label and text.",
            code="table.no_columns")
    return best


def _looks_numeric(value: str) -> bool:
    try:
        float(value.replace(",", ""))
        return True
    except ValueError:
        return False


def _pick_column(spec, names: list[str], width: int, what: str) -> int:
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().lstrip("-").isdigit()):
        index = int(spec)
        if not 0 <= index < width:
            raise PocketLLMError("--{what}_column {index} is out of range: the table has {width} column(s), "
                                 "numbered 0 to {last}.", code="table.column_out_of_range", what=what,
                                 index=index, width=width, last=width - 1)
        return index
    lowered = [n.strip().lower() for n in names]
    if spec.strip().lower() in lowered:
        return lowered.index(spec.strip().lower())
    raise PocketLLMError("No column named {spec!r}; the columns are: {columns} (or give a 0-based index).",
                         code="table.no_such_column", spec=spec, columns=", ".join(names))


def _has_header(rows: list[list[str]], width: int) -> bool:
    """A first row is a header when none of its values occur again in their column."""
    if len(rows) < 2:
        return False
    first, rest = rows[0], rows[1:200]
    for j in range(min(width, len(first))):
        column = {r[j].strip() for r in rest if len(r) > j}
        if first[j].strip() in column or not first[j].strip():
            return False
        if _looks_numeric(first[j]) and sum(_looks_numeric(v) for v in column) > len(column) / 2:
            return False
    return True


def _unclosed_quote_line(text: str) -> int:
    """The line where a quote opens that no later quote closes (0 when quotes balance)."""
    if text.count('"') % 2 == 0:
        return 0
    seen, opened_at = 0, 0
    for number, line in enumerate(text.splitlines(), start=1):
        before = seen % 2
        seen += line.count('"')
        if before == 0 and seen % 2 == 1:
            opened_at = number
    return opened_at


def read_table(path, text_column=None, label_column=None, delimiter: str | None = None,
               header: bool | None = None) -> Table:
    """Read a classification table; see the module docstring for what is detected."""
    path = Path(path)
    text = _table_text(path)
    delim, rows = _rows(path, text, delimiter)
    width = _width(path, rows)
    has_header = _has_header(rows, width) if header is None else header
    names, rows = _column_names(path, rows, width, has_header)
    ti, li = _text_and_label_columns(path, rows, names, width, text_column, label_column)
    texts, labels, dropped = _examples(rows, ti, li, width, delim)
    classes = _classes(path, texts, labels, dropped, names[li])
    index = {name: i for i, name in enumerate(classes)}
    return Table(texts, classes, [index[lab] for lab in labels], names[ti], names[li], delim,
                 has_header, len(rows), dict(dropped), str(path), list(names))


def _table_text(path: Path) -> str:
    if not path.is_file():
        raise PocketLLMError("Data file not found: {path}. Give a CSV or TSV file (--data_path).",
                             code="table.not_found", path=str(path))
    text = read_text(path)  # UTF-8 only, with a hint about the encoding otherwise
    if not text.strip():
        raise PocketLLMError("{name} is empty: it needs rows of a label and a text.", code="table.empty",
                             name=path.name)
    return text


def _rows(path: Path, text: str, delimiter: str | None) -> tuple[str, list[list[str]]]:
    """(the delimiter, the non-blank rows)."""
    try:
        delim = delimiter or sniff_delimiter(text)
        rows = _parse(text, delim)
    except csv.Error as exc:
        raise PocketLLMError("{name} is not a readable CSV file ({detail}). Check its quotes, or save it again "
                             "as CSV (UTF-8) from your spreadsheet.", code="table.bad_csv", name=path.name,
                             detail=str(exc)) from None
    # A quote that is never closed swallows the rest of the file into one field of the last row.
    if delim != "\t" and rows and any("\n" in v for v in rows[-1]) and _unclosed_quote_line(text):
        raise PocketLLMError(
            "{name} has a quote (\") opened on line {line} that is never closed, so everything after it would "
            "read as one text. Close or remove that quote (inside a quoted text, write \"\").",
            code="table.unclosed_quote", name=path.name, line=_unclosed_quote_line(text))
    return delim, [r for r in rows if any(v.strip() for v in r)]  # blank lines are not rows


def _width(path: Path, rows: list[list[str]]) -> int:
    """The number of columns most rows have."""
    width = Counter(len(r) for r in rows).most_common(1)[0][0]
    if width < 2:
        raise PocketLLMError("{name} has a single column; it needs a label column and a text column "
                             "(separated by a comma or a tab).", code="table.one_column", name=path.name)
    if len(rows) == 1:
        raise PocketLLMError("{name} has only one row ({first}): a header with no data? A classifier needs "
                             "many rows of a label and a text.", code="table.one_row", name=path.name,
                             first=", ".join(v.strip() for v in rows[0][:4]))
    return width


def _column_names(path: Path, rows: list[list[str]], width: int, has_header: bool):
    """(a name for every column, the data rows): header names, or "column N"."""
    if not has_header:
        return [f"column {j}" for j in range(width)], rows
    names = [n.strip() or f"column {j}" for j, n in enumerate(rows[0][:width])]
    names += [f"column {j}" for j in range(len(names), width)]
    if len(rows) == 1:
        raise PocketLLMError("{name} has a header but no data rows.", code="table.no_data", name=path.name)
    return names, rows[1:]


def _text_and_label_columns(path: Path, rows, names: list[str], width: int, text_column, label_column):
    """The indices of the text and the label column: as named, or detected."""
    def values(j):
        return [r[j].strip() if len(r) > j else "" for r in rows]

    ti = _pick_column(text_column, names, width, "text") if text_column is not None else None
    li = _pick_column(label_column, names, width, "label") if label_column is not None else None
    if ti is None:  # the text: the column with the longest values
        candidates = [j for j in range(width) if j != li]
        mean_len = {j: sum(len(v) for v in values(j)) / len(rows) for j in candidates}
        ti = max(candidates, key=lambda j: mean_len[j])
        vals = [v for v in values(ti) if v]
        if not vals or sum(_looks_numeric(v) for v in vals) > 0.9 * len(vals) or mean_len[ti] < 2:
            raise PocketLLMError(
                "{name} has no text column: the columns ({columns}) hold only numbers or single characters. "
                "Name the text column with --text_column.", code="table.no_text_column", name=path.name,
                columns=", ".join(names))
    if li is None:  # the label: the column with the fewest distinct values
        candidates = [j for j in range(width) if j != ti]
        distinct = {j: len({v for v in values(j) if v}) for j in candidates}
        usable = [j for j in candidates if distinct[j] >= 1]
        if not usable:
            raise PocketLLMError("{name} has no label column besides the text column {column!r}. Name it with "
                                 "--label_column.", code="table.no_label_column", name=path.name,
                                 column=names[ti])
        li = min(usable, key=lambda j: (distinct[j], j))
    if ti == li:
        raise PocketLLMError("The text column and the label column are the same column.",
                             code="table.same_column")
    return ti, li


def _examples(rows, ti: int, li: int, width: int, delim: str):
    """(texts, labels, dropped rows by reason): every row counted, kept or dropped."""
    texts, labels, dropped = [], [], Counter()
    for r in rows:
        t = r[ti].strip() if len(r) > ti else None
        if ti == width - 1 and len(r) > width:
            t = delim.join(r[ti:]).strip()  # an unquoted delimiter inside the last (text) column
        lab = r[li].strip() if len(r) > li else None
        if t is None or lab is None:
            dropped["too few columns"] += 1
        elif not t:
            dropped["empty text"] += 1
        elif not lab:
            dropped["missing label"] += 1
        else:
            texts.append(t)
            labels.append(lab)
    return texts, labels, dropped


def _classes(path: Path, texts, labels, dropped, label_column: str) -> list[str]:
    """The class names, sorted (class id = position), once the labels look like classes."""
    classes = sorted(set(labels))
    if not texts:
        raise PocketLLMError("{name} has no usable rows: {few} with too few columns, {empty} with empty text, "
                             "{unlabelled} without a label.", code="table.no_usable_rows", name=path.name,
                             few=dropped["too few columns"], empty=dropped["empty text"],
                             unlabelled=dropped["missing label"])
    if len(classes) < 2:
        raise PocketLLMError(
            "{name}: every row has the label {label!r} (column {column!r}), so there is nothing to tell apart. "
            "A classifier needs at least two classes.", code="table.one_class", name=path.name,
            label=classes[0], column=label_column)
    if len(classes) > min(MAX_CLASSES, max(2, len(texts) // 2)):
        raise PocketLLMError(
            "Column {column!r} has {count} different values in {rows} rows; that does not look like a label. "
            "Name the label column with --label_column.", code="table.too_many_classes", column=label_column,
            count=len(classes), rows=len(texts))
    return classes


# ---- balancing and splitting ---------------------------------------------------------

def undersample(label_ids: list[int], seed: int = 123) -> list[int]:
    """Indices keeping every class at the size of the smallest one (original order kept)."""
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(label_ids):
        by_class.setdefault(c, []).append(i)
    smallest = min(len(v) for v in by_class.values())
    rng = random.Random(seed)
    keep = []
    for c in sorted(by_class):
        keep.extend(rng.sample(by_class[c], smallest))
    return sorted(keep)


def check_fractions(fractions):
    """Train / val / test shares: none below 0, together 1."""
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise PocketLLMError("Split fractions must be 0 or more and add up to 1 (got {fractions}).",
                             code="data.bad_split", fractions=list(fractions))


def stratified_split(label_ids: list[int], fractions=(0.7, 0.1, 0.2), seed: int = 123) -> list[list[int]]:
    """Index lists, one per fraction, with every class in the same proportions in each."""
    check_fractions(fractions)
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(label_ids):
        by_class.setdefault(c, []).append(i)
    rng = random.Random(seed)
    out = [[] for _ in fractions]
    for c in sorted(by_class):
        idx = by_class[c]
        rng.shuffle(idx)
        cuts, acc = [], 0.0
        for f in fractions[:-1]:
            acc += f
            cuts.append(round(acc * len(idx)))
        bounds = [0, *cuts, len(idx)]
        for k in range(len(fractions)):
            out[k].extend(idx[bounds[k]:bounds[k + 1]])
    for part in out:
        rng.shuffle(part)
    return out
