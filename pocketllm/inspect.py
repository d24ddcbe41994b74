"""Look inside a language model: what it does with a prompt, as plain data.

Five views, each a function that returns a dataclass of lists, floats and
strings (attention weights as one numpy array), ready for a table or a chart:

- `tokens`        the prompt cut into tokens, with the text each one covers;
- `next_token`    the top candidates for the next token, before and after the
                  temperature / top-k / top-p filters that generation applies;
- `attention`     attention weights per layer and head;
- `logit_lens`    what each layer would predict if the model stopped there;
- `parameter_map` where the parameters, bytes and FLOPs are;
- `tokenizer_view` how a tokenizer cuts a text: pieces, tokens per character,
                  its longest and most used tokens.

The same rules as generation hold everywhere: a prompt longer than the context
keeps its last part (`dropped` says how many tokens went), and an empty prompt
starts from `<|endoftext|>` (`empty_prompt` says so), exactly what GPT-2 sees
at the start of a text.  The model runs in eval mode under
`torch.inference_mode()`; its training/eval state is restored afterwards.

Layer numbers: 0 is the embeddings, l (1..num_layers) is the output of block l.
In `AttentionMaps` index l-1 holds block l (blocks have attention, embeddings
do not).
"""
from __future__ import annotations

import codecs
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn

from .describe import parameter_breakdown
from .errors import PocketLLMError
from .kinds import TaskKind
from .generation import Sampling, apply_penalties, model_and_tokenizer, next_token_probs, token_counts
from .model import GPTModel
from .tokenizer import BOUNDARY, Tokenizer

_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


def visible(text: str) -> str:
    """Text with whitespace drawn as visible marks, for labels (" the" -> "␣the")."""
    return text.translate(_VISIBLE)


# ---- tokens ------------------------------------------------------------------

@dataclass
class TokenInfo:
    index: int        # position in the prompt
    id: int
    text: str         # this token's own bytes as text; a piece of a character shows as �
    label: str        # for display: whitespace visible, pieces as 的(1/2)
    bytes: str        # hex, e.g. "e7 9a"
    partial: bool     # a byte piece of a character, not whole characters by itself
    unit: int         # index of the display unit it belongs to


@dataclass
class TokenUnit:
    """The smallest run of consecutive tokens whose bytes make whole characters."""
    index: int
    text: str
    label: str
    ids: list[int]
    tokens: list[int]  # token indices
    partial: bool      # True when a character was split across tokens


@dataclass
class TokenView:
    prompt: str
    ids: list[int]
    tokens: list[TokenInfo]
    units: list[TokenUnit]
    dropped: int = 0  # tokens at the start a model of `context_length` would not see

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.tokens]

    @property
    def text(self) -> str:
        return "".join(u.text for u in self.units)

    def to_dict(self) -> dict:
        return asdict(self)


def tokens(prompt: str, tokenizer, context_length: int | None = None) -> TokenView:
    """The prompt as tokens of `tokenizer` (a Tokenizer, or a Checkpoint: its tokenizer).
    Byte-level tokenizers work on bytes, so a Chinese character (3 UTF-8 bytes) may
    be split over two tokens; such tokens are grouped into one unit and marked
    `partial`.  Joining the units' texts gives back the prompt."""
    _check_prompt(prompt)
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    if not isinstance(tok, Tokenizer):
        raise PocketLLMError("This view needs the model's tokenizer: a Tokenizer, or the model's Checkpoint.",
                             code="inspect.needs_tokenizer")
    ids = tok.encode(prompt)
    dropped = max(0, len(ids) - context_length) if context_length else 0
    infos, units = _token_infos(ids, tok)
    return TokenView(prompt, ids, infos, units, dropped)


def _token_infos(ids: list[int], tok: Tokenizer) -> tuple[list[TokenInfo], list[TokenUnit]]:
    # An incremental UTF-8 decoder holds back an unfinished character; when it
    # holds nothing, the tokens read so far end on a character boundary.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    raw = [tok.token_bytes(i) for i in ids]
    units: list[TokenUnit] = []
    group: list[int] = []
    text = ""

    def close():
        nonlocal group, text
        units.append(TokenUnit(len(units), text, visible(text), [ids[i] for i in group], group,
                               partial=len(group) > 1 or not _whole(raw[group[0]])))
        group, text = [], ""

    for i, b in enumerate(raw):
        text += decoder.decode(b)
        group.append(i)
        if decoder.getstate()[0] == b"":
            close()
    if group:
        text += decoder.decode(b"", final=True)
        close()

    infos = []
    for unit in units:
        n = len(unit.tokens)
        for k, i in enumerate(unit.tokens):
            whole = _whole(raw[i])
            own = raw[i].decode("utf-8", errors="replace")
            if whole:
                label = visible(own)
            elif n > 1:
                label = f"{unit.label}({k + 1}/{n})"
            else:  # a lone piece whose character began before the window
                label = "<" + raw[i].hex(" ") + ">"
            infos.append(TokenInfo(i, ids[i], own, label, raw[i].hex(" "), not whole, unit.index))
    return infos, units


def _whole(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---- running the model -------------------------------------------------------

@dataclass
class PromptRun:
    """What the model actually read (shared by the views that run it)."""
    ids: list[int]        # token ids fed to the model, after cutting to the context
    labels: list[str]     # one display label per fed token
    text: str             # the text those tokens spell
    dropped: int          # tokens cut from the start because the prompt exceeded the context
    empty_prompt: bool    # the prompt was empty, so the model read <|endoftext|> alone


def _model_and_tokenizer(model, tokenizer: Tokenizer | None) -> tuple[GPTModel, Tokenizer]:
    """The language model inside `model` (a Checkpoint or a GPTModel) and its tokenizer."""
    lm = _language_model(model)
    _, tok = model_and_tokenizer(model if hasattr(model, "tokenizer") else lm, tokenizer)
    return lm, tok


def _language_model(model) -> GPTModel:
    if hasattr(model, "model") and hasattr(model, "task_type"):  # a Checkpoint
        if model.task_type == TaskKind.CLASSIFY:
            raise PocketLLMError(
                "inspect works on language models; this checkpoint is a classifier ({labels}). Inspect the "
                "language model it was finetuned from, or use `python -m pocketllm classify` for this one.",
                code="inspect.classifier", labels=", ".join(model.task.get("labels", [])))
        model = model.model
    if not isinstance(model, GPTModel):
        raise PocketLLMError("This view needs a PocketLLM GPTModel (or a Checkpoint from pocketllm.load_model), "
                             "got {got}.", code="inspect.not_a_model", got=type(model).__name__)
    if model.num_classes is not None or model.out_head.out_features != model.cfg.vocab_size:
        raise PocketLLMError(
            "inspect works on language models; this model has a classifier head ({classes} classes instead "
            "of {vocab} tokens). Inspect the language model it was finetuned from.",
            code="inspect.classifier_head", classes=model.out_head.out_features, vocab=model.cfg.vocab_size)
    return model


def _check_prompt(prompt):
    if not isinstance(prompt, str):
        raise PocketLLMError("The prompt must be text (a str), got {got}.", code="inspect.prompt_not_text",
                             got=type(prompt).__name__)


@contextmanager
def _evaluating(model: nn.Module):
    was_training = model.training
    model.eval()  # no dropout: the numbers must be the model's own
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _prepare(model: GPTModel, prompt: str, tok: Tokenizer) -> tuple[torch.Tensor, dict]:
    _check_prompt(prompt)
    ids = tok.encode(prompt)
    empty = not ids
    ids = ids or [tok.eot_id]  # as generation does: a text starts after <|endoftext|>
    dropped = max(0, len(ids) - model.cfg.context_length)
    ids = ids[dropped:]  # as generation does: keep the last part
    infos, units = _token_infos(ids, tok)
    idx = torch.tensor([ids], device=model.tok_emb.weight.device)
    return idx, dict(ids=ids, labels=[t.label for t in infos], text="".join(u.text for u in units),
                     dropped=dropped, empty_prompt=empty)


# ---- next token --------------------------------------------------------------

@dataclass
class Candidate:
    rank: int             # 1 = the model's most likely token
    id: int
    text: str
    label: str
    logit: float
    prob: float           # plain softmax of the logits (temperature 1, no filter)
    prob_scaled: float    # after temperature only
    prob_after: float     # after temperature, top-k and top-p: what sampling draws from
    kept: bool
    # None if kept, else "utf8" (it would leave a broken character, see tokenizer/utf8.py),
    # "top_k", "top_p", "min_p" or "temperature 0" (greedy)
    cut_by: str | None
    penalized_logit: float | None = None  # after the repetition/frequency/presence penalties


@dataclass
class NextToken(PromptRun):
    sampling: Sampling    # the settings the filtered probabilities follow
    candidates: list[Candidate]
    kept_tokens: int      # vocabulary tokens left with a non-zero chance after the filters
    kept_mass: float      # their share of the plain (temperature 1) probability
    other_prob: float     # plain probability of everything outside the listed candidates
    other_prob_after: float
    entropy: float        # in bits, of the plain distribution
    entropy_after: float  # in bits, after the filters
    utf8_removed: int = 0     # vocabulary tokens the valid-UTF-8 rule removed (pieces of characters)
    utf8_removed_mass: float = 0.0  # their plain probability

    def to_dict(self) -> dict:
        return {**asdict(self), "sampling": self.sampling.to_dict()}


LOOK_SAMPLING = Sampling(temperature=1.0)  # what "look inside" shows unless told: the model's own odds


def next_token(model, prompt: str, sampling: Sampling = LOOK_SAMPLING, n: int = 20,
               tokenizer: Tokenizer | None = None) -> NextToken:
    """The `n` most likely next tokens, with their probabilities before and after the
    sampling filters.  The filtered probabilities are `pocketllm.generation.next_token_probs`
    of the logits after the same penalties (counting the prompt's tokens) and valid-UTF-8 rule,
    so they are exactly what generation samples from; `cut_by` tells which rule removed a
    candidate."""
    model, tok = _model_and_tokenizer(model, tokenizer)
    if not isinstance(sampling, Sampling):
        raise PocketLLMError("next_token takes the sampling settings as one Sampling value (got {got}).",
                             code="inspect.not_sampling", got=type(sampling).__name__)
    if not isinstance(n, int) or n < 1:
        raise PocketLLMError("n (how many candidates to show) must be at least 1 (got {n}).",
                             code="inspect.bad_count", n=repr(n))
    idx, run = _prepare(model, prompt, tok)
    with _evaluating(model):
        logits = model(idx, last_only=True)[0, -1].float()
    plain = torch.softmax(logits, -1)
    # A prompt is whole characters, so the text after it is at a character boundary.
    allowed = (tok.utf8_guard.mask_for(BOUNDARY, logits.shape[-1]) if sampling.valid_utf8
               else torch.ones_like(logits, dtype=torch.bool))
    penalized = apply_penalties(logits, token_counts(run["ids"], logits.shape[-1], logits.device), sampling)
    ruled = penalized.masked_fill(~allowed, float("-inf"))
    after = next_token_probs(ruled, sampling)
    # The same filters one at a time, in generation's order, to tell which one cut a token.
    scaled = next_token_probs(ruled, replace(sampling, top_k=None, top_p=None, min_p=None))
    after_k = next_token_probs(ruled, replace(sampling, top_p=None, min_p=None))
    after_p = next_token_probs(ruled, replace(sampling, min_p=None))
    n = min(n, logits.shape[-1])
    top = torch.topk(plain, n)
    candidates = []
    for rank, (p, i) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
        kept = bool(after[i] > 0)
        cut_by = None
        if not kept:
            cut_by = ("utf8" if not allowed[i] else "temperature 0" if sampling.greedy
                      else "top_k" if after_k[i] == 0 else "top_p" if after_p[i] == 0 else "min_p")
        raw = tok.token_bytes(i)
        text = raw.decode("utf-8", errors="replace")
        label = visible(text) if _whole(raw) else "<" + raw.hex(" ") + ">"
        candidates.append(Candidate(rank, i, text, label, float(logits[i]), p, float(scaled[i]),
                                    float(after[i]), kept, cut_by, float(penalized[i])))
    listed = top.indices
    kept_mask = after > 0
    return NextToken(
        **run, sampling=sampling, candidates=candidates,
        kept_tokens=int(kept_mask.sum()), kept_mass=float(plain[kept_mask].sum()),
        other_prob=max(0.0, 1.0 - float(plain[listed].sum())),
        other_prob_after=max(0.0, 1.0 - float(after[listed].sum())),
        entropy=_entropy_bits(plain), entropy_after=_entropy_bits(after),
        utf8_removed=int((~allowed).sum()), utf8_removed_mass=float(plain[~allowed].sum()))


def _entropy_bits(p: torch.Tensor) -> float:
    p = p[p > 0]
    return float(-(p * p.log2()).sum())


# ---- attention ---------------------------------------------------------------

@dataclass
class AttentionMaps(PromptRun):
    # (num_layers, num_heads, tokens, tokens) float32; weights[l-1, h, i, j] is how much
    # token i looks at token j in block l, head h.  Each row sums to 1; j > i is 0.
    weights: np.ndarray = field(repr=False)

    @property
    def num_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def num_heads(self) -> int:
        return self.weights.shape[1]

    def matrix(self, layer: int, head: int | None = None) -> list[list[float]]:
        """Block `layer` (1..num_layers), head `head` (1..num_heads) or, when None, the
        mean over heads; rows are queries, columns keys.  Numbered from 1 as people say
        them ("block 1, head 1"); the `weights` array itself is 0-based."""
        if not 1 <= layer <= self.num_layers:
            raise PocketLLMError("layer must be 1..{layers} (got {got}).", code="inspect.bad_layer",
                                 layers=self.num_layers, got=layer)
        w = self.weights[layer - 1]
        if head is None:
            return w.mean(0).tolist()
        if not 1 <= head <= self.num_heads:
            raise PocketLLMError("head must be 1..{heads} (got {got}).", code="inspect.bad_head",
                                 heads=self.num_heads, got=head)
        return w[head - 1].tolist()


def attention(model, prompt: str, tokenizer: Tokenizer | None = None) -> AttentionMaps:
    """Attention weights of every layer and head for the prompt (the explicit path).

    They take layers × heads × tokens² × 4 bytes: 600 MB for GPT-2 124M at its full
    1024-token context, a few KB for a sentence."""
    model, tok = _model_and_tokenizer(model, tokenizer)
    idx, run = _prepare(model, prompt, tok)
    with _evaluating(model):
        maps = model.trace(idx).attentions
    t = idx.shape[1]
    weights = np.empty((len(maps), model.cfg.num_heads, t, t), dtype=np.float32)
    for layer in range(len(maps)):
        weights[layer] = maps[layer][0].float().cpu().numpy()
        maps[layer] = None  # free each layer as it is copied: one copy in memory, not two
    return AttentionMaps(**run, weights=weights)


# ---- logit lens --------------------------------------------------------------

@dataclass
class LogitLens(PromptRun):
    layers: list[str]              # "embeddings", "block 1", ..., "block L"
    top: int
    pred_ids: list[list[list[int]]]     # [layer][position][k]
    pred_labels: list[list[list[str]]]  # [layer][position][k]
    pred_probs: list[list[list[float]]]  # [layer][position][k]
    next_ids: list[int | None]     # the token that really comes next in the prompt (None at the end)
    first: int = 0                 # the lens's first position: it covers ids[first:] (the last LENS_POSITIONS)

    @property
    def lens_labels(self) -> list[str]:
        """The labels of the positions the lens covers."""
        return self.labels[self.first:]

    @property
    def top1_labels(self) -> list[list[str]]:
        return [[p[0] for p in row] for row in self.pred_labels]

    @property
    def top1_probs(self) -> list[list[float]]:
        return [[p[0] for p in row] for row in self.pred_probs]

    def to_dict(self) -> dict:
        return asdict(self)


LENS_POSITIONS = 128  # the lens reads the last this many positions (each costs a head per layer)


def logit_lens(model, prompt: str, top: int = 1, tokenizer: Tokenizer | None = None,
               positions: int = LENS_POSITIONS) -> LogitLens:
    """For each layer and position, the token the model would predict if it stopped
    after that layer: final LayerNorm + output head applied to that layer's residual
    stream.  The last layer is the model's own prediction.

    Only the last `positions` positions (the model still reads the whole prompt): every position
    costs the whole output head once per layer — on gpt2-124M with 1,024 tokens 13 × 79 GFLOP, 45 s
    on 2 cores — and a map wider than a screen is not read anyway."""
    model, tok = _model_and_tokenizer(model, tokenizer)
    if not isinstance(top, int) or top < 1:
        raise PocketLLMError("top must be at least 1 (got {got}).", code="inspect.bad_top", got=repr(top))
    idx, run = _prepare(model, prompt, tok)
    top = min(top, model.cfg.vocab_size)
    label_of = {}

    def label(i):
        if i not in label_of:
            raw = tok.token_bytes(i)
            label_of[i] = visible(raw.decode()) if _whole(raw) else "<" + raw.hex(" ") + ">"
        return label_of[i]

    pred_ids, pred_labels, pred_probs = [], [], []
    first = max(0, len(run["ids"]) - max(1, positions))
    with _evaluating(model):
        trace = model.trace(idx)
        for h in trace.hidden:  # one layer at a time: T × vocab logits can be large
            probs = torch.softmax(model.out_head(model.final_norm(h[:, first:]))[0].float(), -1)
            best = torch.topk(probs, top, dim=-1)
            ids = best.indices.tolist()
            pred_ids.append(ids)
            pred_probs.append(best.values.tolist())
            pred_labels.append([[label(i) for i in row] for row in ids])
    layers = ["embeddings"] + [f"block {l}" for l in range(1, len(trace.hidden))]
    next_ids = run["ids"][first + 1:] + [None]
    return LogitLens(**run, layers=layers, top=top, pred_ids=pred_ids, pred_labels=pred_labels,
                     pred_probs=pred_probs, next_ids=next_ids, first=first)


# ---- parameter map -----------------------------------------------------------

@dataclass
class ParameterMap:
    components: list[dict]   # describe.parameter_breakdown rows: component, parameters, bytes, dtypes, share
    dtypes: list[dict]       # dtype, parameters, bytes
    total_parameters: int    # equals model.num_parameters() (a tied weight counts once)
    total_bytes: int
    tied: bool
    context: int             # T used for the attention term of the FLOPs
    flops: list[dict]        # component, flops (forward, per token)
    matmul_parameters: int   # weights of every matrix multiply (the head too, even when tied)
    flops_per_token: int     # forward: 2·matmul_parameters + 4·num_layers·T·emb_dim
    train_flops_per_token: int  # forward + backward ≈ 3 × forward

    def to_dict(self) -> dict:
        return asdict(self)


def parameter_map(model, context: int | None = None) -> ParameterMap:
    """Parameters and bytes per component and per dtype, and forward FLOPs per token.

    FLOPs: a matrix multiply by a weight with N entries costs 2·N per token (one
    multiply, one add), so the linear layers cost 2·N_matmul; embeddings are
    look-ups and LayerNorms/biases are small, so they are left out.  Attention
    itself (q·kᵀ, then weights·v) costs 2·T·d each per layer, 4·L·T·d in all,
    counted at T = `context` (default: the model's context length, i.e. the last
    token of a full window).  Training costs about 3× the forward pass.

    Unlike the other views this one also works for classifiers (the head is then
    the small classifier head).
    """
    if hasattr(model, "model") and hasattr(model, "task_type"):
        model = model.model
    if not isinstance(model, GPTModel):
        raise PocketLLMError("This view needs a PocketLLM GPTModel (or a Checkpoint from pocketllm.load_model), "
                             "got {got}.", code="inspect.not_a_model", got=type(model).__name__)
    cfg = model.cfg
    t = cfg.context_length if context is None else int(context)
    if t < 1:
        raise PocketLLMError("context must be at least 1 token (got {got}).", code="inspect.bad_context",
                             got=context)
    rows = parameter_breakdown(model)
    by_dtype: dict[str, list[int]] = {}
    for p in model.parameters():  # parameters() yields a tied weight once
        entry = by_dtype.setdefault(str(p.dtype).removeprefix("torch."), [0, 0])
        entry[0] += p.numel()
        entry[1] += p.numel() * p.element_size()
    dtypes = [{"dtype": k, "parameters": v[0], "bytes": v[1]} for k, v in sorted(by_dtype.items())]

    def matmul(modules) -> int:
        return sum(m.weight.numel() for m in modules if isinstance(m, nn.Linear))

    attn = sum(matmul(b.attn.modules()) for b in model.blocks)
    ffn = sum(matmul(b.ffn.modules()) for b in model.blocks)
    head = model.out_head.weight.numel()
    scores = 2 * 2 * cfg.num_layers * t * cfg.emb_dim
    flops = [{"component": "attention", "flops": 2 * attn},
             {"component": "attention scores", "flops": scores},
             {"component": "feed_forward", "flops": 2 * ffn},
             {"component": "head", "flops": 2 * head}]
    forward = sum(r["flops"] for r in flops)
    return ParameterMap(
        components=rows, dtypes=dtypes, total_parameters=sum(r["parameters"] for r in rows),
        total_bytes=sum(r["bytes"] for r in rows), tied=model.is_tied, context=t, flops=flops,
        matmul_parameters=attn + ffn + head, flops_per_token=forward,
        train_flops_per_token=3 * forward)


# ---- the tokenizer ---------------------------------------------------------------

@dataclass
class TokenizerView:
    kind: str
    vocab_size: int
    description: str
    sample: TokenView           # the first lines of the text, as tokens
    characters: int             # of the whole text
    tokens: int
    tokens_per_char: float      # 1.0 for char; GPT-2 needs about 2 for Chinese
    unseen_chars: int           # characters spelled as bytes (char kind) or split into byte pieces
    longest: list[str]          # the longest tokens (in characters), whitespace made visible
    most_used: list[tuple[str, int]]  # (token, times used in the text)

    def to_dict(self) -> dict:
        return asdict(self)


def tokenizer_view(tokenizer, text: str, sample_chars: int = 200, top: int = 12) -> TokenizerView:
    """How `tokenizer` (a Tokenizer or a Checkpoint) reads `text`."""
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    if not isinstance(tok, Tokenizer):
        raise PocketLLMError("This view needs the model's tokenizer: a Tokenizer, or the model's Checkpoint.",
                             code="inspect.needs_tokenizer")
    _check_prompt(text)
    sample = text[:sample_chars]
    cut = sample.rfind("\n")
    sample = sample[:cut] if cut > sample_chars // 2 else sample
    view = tokens(sample, tok)
    ids = tok.encode(text)
    counts: dict[int, int] = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1

    def label(i: int) -> str:
        raw = tok.token_bytes(i)
        return visible(raw.decode("utf-8")) if _whole(raw) else "<" + raw.hex(" ") + ">"

    whole = [i for i in range(tok.vocab_size) if i != tok.eot_id and _whole(tok.token_bytes(i))
             and visible(tok.token_bytes(i).decode("utf-8")).isprintable()]
    # the longest first; among equals, the ones this text uses most
    longest = sorted(whole, key=lambda i: (-len(tok.token_bytes(i).decode("utf-8")), -counts.get(i, 0), i))[:top]
    most_used = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    split = sum(len(u.tokens) for u in tokens(text[:20000], tok).units if u.partial)
    return TokenizerView(tok.kind, tok.vocab_size, tok.describe(), view, len(text), len(ids),
                         len(ids) / max(1, len(text)), split, [label(i) for i in longest],
                         [(label(i), n) for i, n in most_used])
