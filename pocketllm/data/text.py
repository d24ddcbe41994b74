"""Reading the user's text files: UTF-8 only, with clear messages otherwise."""
from __future__ import annotations

import codecs
from pathlib import Path
from typing import Iterator

from ..errors import PocketLLMError

CHUNK_BYTES = 4 << 20  # read big corpora 4 MB at a time


WINDOW = 1 << 16  # bytes looked at to name a file's encoding


def _decodes(raw: bytes, encoding: str) -> bool:
    """Do the bytes read as `encoding` (a character cut at the end of `raw` is allowed)?"""
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(raw, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _diagnose(window: bytes, at_file_start: bool) -> tuple[str, str]:
    """What the bytes around the first invalid UTF-8 probably are: ("stray", "") for UTF-8 text with
    a few bad bytes, (label, iconv name) for another encoding, ("", "") when it is not clear.
    A guess for the message only, never used to read the file."""
    if at_file_start and window[:2] in (b"\xff\xfe", b"\xfe\xff") or window.count(0) * 10 >= len(window) > 0:
        return "UTF-16", "UTF-16"  # a byte-order mark, or English text where every other byte is 0
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(window, final=False)
    invalid = text.count("\ufffd")
    multibyte = sum(1 for c in text if ord(c) > 127) - invalid
    if multibyte and invalid * 10 <= multibyte:
        return "stray", ""  # mostly good UTF-8 (Chinese text reads), a few bytes are not
    for encoding, label, iconv in (("gb18030", "GBK/GB18030", "GB18030"),
                                   ("big5", "Big5", "BIG5")):
        if _decodes(window, encoding):
            return label, iconv
    return ("stray", "") if invalid <= 3 else ("", "")


def _not_utf8(path: Path, data: bytes, start: int, lines_before: int) -> PocketLLMError:
    """The message for a file whose bytes `data` (from byte `start` of the file on, after
    `lines_before` line breaks) hold invalid UTF-8: where, what it probably is, and the one
    command that converts it."""
    try:
        data.decode("utf-8")
        bad = len(data)  # (only a character cut short at the very end)
    except UnicodeDecodeError as exc:
        bad = exc.start
    line_start = data.rfind(b"\n", 0, bad) + 1  # a line starts on a character in every encoding we name
    kind, iconv = _diagnose(data[line_start:line_start + WINDOW], at_file_start=start == 0 and line_start == 0)
    where = dict(name=path.name, position=start + bad + 1, line=lines_before + data.count(b"\n", 0, bad) + 1)
    if kind == "stray":
        return PocketLLMError(
            "{name} is UTF-8 text with an invalid byte at byte {position:,} (line {line:,}), e.g. from a damaged "
            "copy. Fix that line, or drop every invalid byte with `iconv -c -f UTF-8 -t UTF-8 in.txt > out.txt`, "
            "and try again.", code="text.invalid_utf8_byte", **where)
    if kind:
        return PocketLLMError(
            "{name} is not UTF-8 text: it looks like {encoding} (the first byte that is not UTF-8 is byte "
            "{position:,}, line {line:,}). Convert it with `iconv -f {iconv} -t UTF-8 in.txt > out.txt` (or "
            "'Save as… UTF-8' in your editor) and try again.", code="text.not_utf8_guessed", encoding=kind,
            iconv=iconv, **where)
    return PocketLLMError(
        "{name} is not UTF-8 text (the first byte that is not UTF-8 is byte {position:,}, line {line:,}), and "
        "its encoding is not clear. Open it in an editor and save it as UTF-8 ('Save as… UTF-8'), then try "
        "again.", code="text.not_utf8", **where)


def iter_text_chunks(path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Yield the file's text in pieces that end at a line break, or of `chunk_bytes` characters
    where a line is longer than that (a 200 MB file with no line break is read in bounded pieces).

    Accepts UTF-8 with or without a byte-order mark; anything else stops with a
    message that says where the bad bytes are and how to convert the file.
    """
    path = Path(path)
    if path.is_dir():
        raise PocketLLMError("{path} is a folder; give a UTF-8 text file (.txt) inside it, e.g. --data_path "
                             "{example}.", code="text.is_folder", path=str(path), example=str(path / "corpus.txt"))
    if not path.is_file():
        raise PocketLLMError("Text file not found: {path}. Check the path (--data_path).", code="text.not_found",
                             path=str(path))
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    offset, lines, pending = 0, 0, ""  # bytes and line breaks read before `raw`
    with open(path, "rb") as fh:
        while True:
            raw = fh.read(chunk_bytes)
            final = not raw
            held = decoder.getstate()[0]  # the start of a character the last read cut in two
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError:
                raise _not_utf8(path, held + raw, offset - len(held), lines) from None
            offset += len(raw)
            lines += raw.count(b"\n")
            text = pending + text
            if final:
                if text:
                    yield text
                return
            cut = text.rfind("\n") + 1
            if cut == 0:
                if len(text) < chunk_bytes:
                    pending = text  # no line break yet: keep collecting
                    continue
                cut = chunk_bytes  # a line longer than a chunk: cut it between two characters
            yield text[:cut]
            pending = text[cut:]


def read_text(path) -> str:
    """The whole file as text (for small files: previews, CSVs, JSON)."""
    return "".join(iter_text_chunks(path))


def split_point(path, val_fraction: float) -> tuple[int, int]:
    """(characters in the file, index of the first held-out character)."""
    total = sum(len(chunk) for chunk in iter_text_chunks(path))
    return total, total - int(total * val_fraction)


def iter_split(path, val_fraction: float) -> Iterator[tuple[str, str]]:
    """The file's text as ("train" | "val", piece): the last `val_fraction` of the
    characters is held out.  Splitting by characters, before any tokenizer sees the
    text, lets a tokenizer be trained on the training part alone."""
    _, split = split_point(path, val_fraction)
    seen = 0
    for chunk in iter_text_chunks(path):
        if seen + len(chunk) <= split:
            yield "train", chunk
        elif seen >= split:
            yield "val", chunk
        else:
            cut = split - seen
            yield "train", chunk[:cut]
            yield "val", chunk[cut:]
        seen += len(chunk)


def iter_train_text(path, val_fraction: float) -> Iterator[str]:
    """Only the training part of the file (what a tokenizer may learn from)."""
    for part, text in iter_split(path, val_fraction):
        if part == "train" and text:
            yield text
