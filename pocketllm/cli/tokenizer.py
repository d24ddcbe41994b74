"""`tokenizer`: train a vocabulary on a corpus (or open a model's) and see how it cuts text."""
from __future__ import annotations

from ..errors import PocketLLMError


def register(sub):
    p = sub.add_parser(
        "tokenizer", help="see how a tokenizer (gpt2, bpe or char) cuts your corpus and a text",
        description="Train a tokenizer on the training part of a corpus, exactly as `pretrain` would for a "
                    "fresh model, or open the one inside a checkpoint, and show how it reads text: the "
                    "pieces, tokens per character, the longest and most used tokens.")
    p.add_argument("--data_path", default=None,
                   help="UTF-8 text file (default: the bundled data/pretrain/zh_classics.txt)")
    p.add_argument("--kind", default=None, choices=("bpe", "char", "gpt2"),
                   help="bpe (byte-level BPE trained on the corpus; default), char or gpt2")
    p.add_argument("--vocab_size", type=int, default=None,
                   help="tokens in a bpe/char vocabulary (default: 8000 for bpe, every character for char)")
    p.add_argument("--val_fraction", type=float, default=0.1,
                   help="held-out share of the characters, never seen by the tokenizer (default 0.1)")
    p.add_argument("--model_path", default=None, help="show this checkpoint's tokenizer instead of training one")
    p.add_argument("--text", default=None, help="a text to cut into tokens (default: the corpus's first lines)")
    p.set_defaults(run=run)


def run(args):
    import time
    from .. import inspect as look
    from ..checkpoint import load_model
    from ..data.text import iter_text_chunks
    from ..tasks.language_modeling import DEFAULT_CORPUS, train_corpus_tokenizer

    data_path = args.data_path or str(DEFAULT_CORPUS)
    if args.model_path:
        if args.kind or args.vocab_size:
            raise PocketLLMError("--model_path shows the model's own tokenizer; leave out --kind and --vocab_size.",
                                 code="cli.tokenizer_flags")
        tok = load_model(args.model_path).tokenizer
        print(f"tokenizer of {args.model_path}: {tok.describe()}")
    else:
        start = time.perf_counter()
        tok = train_corpus_tokenizer(data_path, args.kind, args.vocab_size, args.val_fraction)
        print(f"trained {tok.describe()} on the first {1 - args.val_fraction:.0%} of {data_path} "
              f"in {time.perf_counter() - start:.1f} s")
    corpus = "".join(chunk for _, chunk in zip(range(8), iter_text_chunks(data_path)))  # up to 32 MB
    view = look.tokenizer_view(tok, corpus)
    print(f"corpus: {view.characters:,} characters → {view.tokens:,} tokens "
          f"({view.tokens_per_char:.2f} tokens per character)")
    if view.unseen_chars:
        print(f"        {view.unseen_chars:,} tokens are byte pieces of characters (shown as <hex> below)")
    print("longest tokens:   " + "  ".join(view.longest))
    print("most used tokens: " + "  ".join(f"{t}×{n:,}" for t, n in view.most_used))
    sample = look.tokens(args.text, tok) if args.text is not None else view.sample
    print(f"\n{len(sample.ids)} tokens for {len(sample.prompt)} characters:")
    print(" | ".join(sample.labels))
    if any(t.partial for t in sample.tokens):
        print("(x(1/3) marks a byte piece: that character takes several tokens)")
    return 0
