"""Reading the user's text files: UTF-8 only, with clear messages otherwise."""
from __future__ import annotations

import codecs
from pathlib import Path
from typing import Iterator

from ..errors import PocketLLMError

CHUNK_BYTES = 4 << 20  # read big corpora 4 MB at a time


def _guess_encoding(raw: bytes) -> str:
    """The encoding the bytes probably are in, or "" (a guess for the message, never used to read)."""
    for name, label in (("gb18030", "GBK/GB18030 (common for Chinese text on Windows)"),
                        ("big5", "Big5"), ("utf-16", "UTF-16")):
        try:
            raw.decode(name)
            return label
        except (UnicodeDecodeError, LookupError):
            continue
    return ""


def _not_utf8(path: Path, position: int, encoding: str) -> PocketLLMError:
    if encoding:
        return PocketLLMError(
            "{name} is not UTF-8 text (invalid byte at position {position:,}). It looks like {encoding}. Save it "
            "as UTF-8 (for example `iconv -f GB18030 -t UTF-8 in.txt > out.txt`, or 'Save as… UTF-8' in your "
            "editor) and try again.", code="text.not_utf8_guessed", name=path.name, position=position,
            encoding=encoding)
    return PocketLLMError(
        "{name} is not UTF-8 text (invalid byte at position {position:,}). Save it as UTF-8 (for example "
        "`iconv -f GB18030 -t UTF-8 in.txt > out.txt`, or 'Save as… UTF-8' in your editor) and try again.",
        code="text.not_utf8", name=path.name, position=position)


def iter_text_chunks(path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Yield the file's text in pieces that end at a line break.

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
    offset, pending = 0, ""
    with open(path, "rb") as fh:
        while True:
            raw = fh.read(chunk_bytes)
            final = not raw
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, offset + exc.start, _guess_encoding(raw[: 1 << 16]) if offset == 0 else "") from None
            offset += len(raw)
            text = pending + text
            if final:
                if text:
                    yield text
                return
            cut = text.rfind("\n") + 1
            if cut == 0 and len(text) < 4 * chunk_bytes:
                pending = text  # no line break yet: keep collecting
                continue
            cut = cut or len(text)
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
