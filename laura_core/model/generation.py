"""Batched autoregressive decoding over a ``Backbone`` with its KV cache.

The caller hands over prompt embeddings (left-padded, with their key mask) and the id ranges the
rows may emit; decoding runs greedy, top-k/top-p sampling or beam search, stops each row at eos or
its length limit, and returns the new ids of each row without eos. Only the allowed rows of the
output head are computed: a codec-output task scores ~1k codec ids, not a 150k-token text vocabulary.
Nothing here knows about tasks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch

from laura_core.interfaces import Backbone
from laura_core.model.ctc_prefix import CTCPrefixScorer


@dataclass
class DecodeOptions:
    strategy: str = "greedy"  # greedy | sample | beam
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    top_p: float = 1.0  # 1.0: no nucleus filter
    beam_size: int = 4
    length_penalty: float = 1.0  # beam scores are log-prob / length ** length_penalty
    max_new_tokens: int = 200
    min_new_tokens: int = 0  # eos is forbidden before this many tokens (benchmarks force full length)
    use_cache: bool = True  # False recomputes the whole prefix every step (for comparison only)
    # Joint CTC/attention decoding (greedy or beam) of the rows a CTC prefix scorer is given for (a
    # model's transcribing tasks): weight of the CTC prefix score, and how many of the GPT's best
    # candidates it scores per step.
    ctc_weight: float = 0.0
    ctc_pre_beam: int = 256  # wide: the GPT of a small run often ranks the right piece low
    # Against the loops of an undertrained model ("y también, y también, ..."), as fairseq and transformers
    # offer: no n-gram of this size twice in one output (0 = off; eos is never banned), and the logits of
    # tokens already emitted divided (positive) or multiplied (negative) by this penalty (1.0 = off).
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0

    def __post_init__(self):
        if self.strategy not in ("greedy", "sample", "beam"):
            raise ValueError(f"decode strategy must be greedy, sample or beam, got {self.strategy!r}")
        if self.max_new_tokens < 1 or self.beam_size < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"invalid decode options: {self}")
        if not 0.0 <= self.ctc_weight <= 1.0 or self.ctc_pre_beam < 1:
            raise ValueError(f"ctc_weight must be in [0, 1] and ctc_pre_beam >= 1, got {self.ctc_weight}, {self.ctc_pre_beam}")
        if self.no_repeat_ngram_size < 0 or self.repetition_penalty <= 0:
            raise ValueError(f"no_repeat_ngram_size must be >= 0 and repetition_penalty > 0, got "
                             f"{self.no_repeat_ngram_size}, {self.repetition_penalty}")
        if self.ctc_weight > 0 and self.strategy == "sample":
            raise ValueError("joint CTC decoding (ctc_weight > 0) needs strategy greedy or beam")


@dataclass
class Prompt:
    """A left-padded batch of prompts, ready for the backbone."""

    embeds: torch.Tensor  # [B, P, D]
    mask: torch.Tensor  # [B, P] bool, False at left padding
    ranges: list[tuple[int, int]]  # half-open id ranges every row may emit (eos among them)
    max_new: torch.Tensor  # [B] long, per-row limit on new tokens


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Keep the top-k logits and the smallest set whose probability reaches top_p; others -> -inf."""
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the mass before it already reaches top_p (the first token always stays).
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def penalise_repeats(logits: torch.Tensor, history: torch.Tensor, eos: int, options: DecodeOptions) -> torch.Tensor:
    """``logits`` ``[R, V]`` of the next token, given the columns each row emitted so far ``[R, t]``:
    the repetition penalty on every emitted column, and -inf on every column that would complete an
    n-gram the row already holds (eos excepted, so a row can always end)."""
    if history.shape[1] == 0:
        return logits
    if options.repetition_penalty != 1.0:
        seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, history, True)
        penalised = torch.where(logits > 0, logits / options.repetition_penalty, logits * options.repetition_penalty)
        logits = torch.where(seen, penalised, logits)
    n = options.no_repeat_ngram_size
    if 0 < n <= history.shape[1]:
        windows = history.unfold(1, n, 1)  # [R, W, n]: every n-gram so far
        tail = history[:, history.shape[1] - n + 1:]  # the last n - 1 columns
        repeats = (windows[:, :, :-1] == tail[:, None]).all(-1)  # [R, W]: windows that tail would restart
        banned = torch.zeros_like(logits).scatter_add_(1, windows[:, :, -1], repeats.to(logits.dtype)) > 0
        banned[:, eos] = False
        logits = logits.masked_fill(banned, float("-inf"))
    return logits


PREFILL_CHUNK = 512  # prompt positions per prefill call with a KV cache


class Decoder:
    """Runs one backbone step by step, with or without the KV cache."""

    def __init__(self, backbone: Backbone, prompt: Prompt, total_len: int, use_cache: bool):
        self.backbone = backbone
        self.use_cache = use_cache
        self.ranges = prompt.ranges
        self.mask = prompt.mask
        self.cache = backbone.new_cache(prompt.mask.shape[0], total_len) if use_cache else None
        self.embeds = prompt.embeds  # the whole sequence so far (needed only without a cache)
        self.next_pos = prompt.mask.long().sum(-1)  # position of the next token per row

    def prefill(self) -> torch.Tensor:
        positions = (self.mask.long().cumsum(-1) - 1).clamp(min=0)
        if self.cache is None:
            hidden = self.backbone(self.embeds, self.mask, positions, None)
        else:
            # In chunks of queries against the cache: the attention mask of a chunk is [chunk x keys], so
            # a long prompt costs memory linear in its length, not a dense [length x length] mask.
            length = self.embeds.shape[1]
            for start in range(0, length, PREFILL_CHUNK):
                end = min(start + PREFILL_CHUNK, length)
                hidden = self.backbone(self.embeds[:, start:end], self.mask[:, :end], positions[:, start:end],
                                       self.cache)
        return self.backbone.logits(hidden[:, -1], self.ranges).float()

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed one new token per row ``[B]`` (vocabulary ids); return next-token logits over the
        allowed ids ``[B, n_allowed]``, in the order of ``allowed_ids``."""
        new = self.backbone.embed(ids[:, None])
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(ids), 1)], dim=1)
        if self.use_cache:
            hidden = self.backbone(new, self.mask, self.next_pos[:, None], self.cache)
        else:
            self.embeds = torch.cat([self.embeds, new], dim=1)
            positions = (self.mask.long().cumsum(-1) - 1).clamp(min=0)
            hidden = self.backbone(self.embeds, self.mask, positions, None)
        self.next_pos = self.next_pos + 1
        return self.backbone.logits(hidden[:, -1], self.ranges).float()

    def reorder(self, index: torch.Tensor) -> None:
        self.mask, self.next_pos = self.mask[index], self.next_pos[index]
        if self.cache is not None:
            self.cache.reorder(index)
        else:
            self.embeds = self.embeds[index]


def allowed_ids(ranges: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
    """The vocabulary id of each column of the restricted logits."""
    return torch.cat([torch.arange(lo, hi, device=device) for lo, hi in ranges])


Generators = Union[torch.Generator, Sequence[torch.Generator], None]


@torch.inference_mode()  # no version counters or view tracking: a small-batch step is bound by per-op overhead
def decode(backbone: Backbone, prompt: Prompt, eos_id: int, options: DecodeOptions,
           generator: Generators = None, scorer: CTCPrefixScorer | None = None) -> list[list[int]]:
    """Decode every row of ``prompt``; returns the new ids of each row, without eos. Sampling draws
    from ``generator``: one for the whole batch, or one per row, so that what a row samples does not
    depend on the other rows of its batch (nor on how many there are). ``scorer`` (greedy and beam)
    joins the GPT's scores with CTC prefix scores."""
    if generator is not None and not isinstance(generator, torch.Generator) and len(generator) != len(prompt.mask):
        raise ValueError(f"{len(generator)} generators for {len(prompt.mask)} rows")
    # The parameters cannot change during one call: a backbone that checks derived inference weights
    # against them (qwen2) may do so once here instead of at every step.
    with backbone.inference_session():
        if options.strategy == "beam":
            return beam_search(backbone, prompt, eos_id, options, scorer)
        return _decode(backbone, prompt, eos_id, options, generator, scorer)


def _decode(backbone: Backbone, prompt: Prompt, eos_id: int, options: DecodeOptions,
            generator: Generators, scorer: CTCPrefixScorer | None = None) -> list[list[int]]:
    device = prompt.mask.device
    batch = prompt.mask.shape[0]
    vocab = allowed_ids(prompt.ranges, device)
    eos = int((vocab == eos_id).nonzero()[0])  # column of eos in the restricted logits
    limit = int(min(prompt.max_new.max().item(), options.max_new_tokens))
    decoder = Decoder(backbone, prompt, prompt.mask.shape[1] + limit, options.use_cache)
    logits = decoder.prefill()
    out = torch.full((batch, limit), eos_id, dtype=torch.long, device=device)
    columns = torch.full((batch, limit), eos, dtype=torch.long, device=device)
    repeats = options.no_repeat_ngram_size > 0 or options.repetition_penalty != 1.0
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    max_new = prompt.max_new.clamp(max=limit)
    rows = torch.arange(batch, device=device)  # the rows still decoding, in the decoder's order
    for t in range(limit):
        if t < options.min_new_tokens:
            logits[:, eos] = float("-inf")
        if repeats:
            logits = penalise_repeats(logits, columns[rows, :t], eos, options)
        if options.strategy == "greedy":
            if scorer is not None:
                logits = scorer.rescore(torch.log_softmax(logits, -1))
            column = logits.argmax(-1)
        else:
            probs = torch.softmax(filter_logits(logits / options.temperature, options.top_k, options.top_p), -1)
            column = sample(probs, generator)
        ids = vocab[column]
        out[rows, t], columns[rows, t] = ids, column
        lengths[rows] += 1
        finished = (ids == eos_id) | (lengths[rows] >= max_new[rows])
        if bool(finished.all()) or t == limit - 1:
            break
        going = (~finished).nonzero().squeeze(1)
        if scorer is not None:
            scorer.advance(going, column[going])
        if len(going) < len(rows):
            # Finished rows leave the batch, so the rest no longer pay for them (sampled outputs end
            # at very different lengths). A row's generator goes with it.
            decoder.reorder(going)
            rows, ids = rows[going], ids[going]
            if generator is not None and not isinstance(generator, torch.Generator):
                generator = [generator[i] for i in going.tolist()]
        logits = decoder.step(ids)
    return [row[: int(n)][row[: int(n)] != eos_id].tolist() for row, n in zip(out, lengths)]


def sample(probs: torch.Tensor, generator: Generators) -> torch.Tensor:
    """One id column per row of ``probs`` ``[B, V]``, from one generator or from each row's own."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return torch.cat([torch.multinomial(row, 1, generator=g) for row, g in zip(probs, generator)])


def beam_search(backbone: Backbone, prompt: Prompt, eos_id: int, options: DecodeOptions,
                scorer: CTCPrefixScorer | None = None) -> list[list[int]]:
    """Beam search, all rows and beams in one batch of ``B * K`` rows that share the KV cache layout."""
    batch, k = prompt.mask.shape[0], options.beam_size
    vocab_ids = allowed_ids(prompt.ranges, prompt.mask.device)
    limit = int(min(prompt.max_new.max().item(), options.max_new_tokens))
    rows = torch.arange(batch, device=prompt.mask.device).repeat_interleave(k)
    max_new = prompt.max_new[rows]
    decoder = Decoder(backbone, Prompt(prompt.embeds[rows], prompt.mask[rows], prompt.ranges, max_new),
                      prompt.mask.shape[1] + limit, options.use_cache)
    if scorer is not None:
        scorer.select(rows)  # every beam starts from its row's empty prefix
    eos_column = int((vocab_ids == eos_id).nonzero()[0])
    logits = decoder.prefill()
    # Only the first beam of each row is live at the start, so the first step does not pick duplicates.
    scores = torch.full((batch, k), float("-inf"), device=logits.device)
    scores[:, 0] = 0.0
    tokens = torch.zeros((batch * k, 0), dtype=torch.long, device=logits.device)
    columns = torch.zeros_like(tokens)  # the same, as columns of the restricted logits
    repeats = options.no_repeat_ngram_size > 0 or options.repetition_penalty != 1.0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    live = list(range(batch))  # the rows still searching, in the decoder's order (k beams each)
    for t in range(limit):
        if repeats:
            logits = penalise_repeats(logits, columns, eos_column, options)
        logp = torch.log_softmax(logits, -1)
        if t < options.min_new_tokens:
            logp[:, vocab_ids == eos_id] = float("-inf")
        if scorer is not None:
            logp = scorer.rescore(logp)
        vocab, n = logp.shape[-1], len(live)
        total = (scores.view(-1, 1) + logp).view(n, k * vocab)
        top_scores, top_index = total.topk(min(2 * k, k * vocab), dim=-1)  # 2k: room for beams that end here
        beam_of, token_of = top_index // vocab, vocab_ids[top_index % vocab]
        new_scores = torch.full((n, k), float("-inf"), device=logits.device)
        new_rows = torch.arange(n * k, device=logits.device).view(n, k)  # a dead beam keeps its own row
        new_tokens = torch.full((n, k), eos_id, dtype=torch.long, device=logits.device)
        new_columns = torch.full((n, k), eos_column, dtype=torch.long, device=logits.device)
        column_of = (top_index % vocab).tolist()
        going = []
        for i, b in enumerate(live):
            kept = 0
            for score, beam, tok, col in zip(top_scores[i].tolist(), beam_of[i].tolist(), token_of[i].tolist(),
                                             column_of[i]):
                if score == float("-inf") or kept == k:
                    break
                row = i * k + beam
                at_limit = t + 1 >= int(max_new[row])
                if tok == eos_id or at_limit:
                    hyp = tokens[row].tolist() + ([] if tok == eos_id else [tok])
                    finished[b].append((score / max(len(hyp), 1) ** options.length_penalty, hyp))
                    continue
                new_scores[i, kept], new_rows[i, kept], new_tokens[i, kept] = score, row, tok
                new_columns[i, kept] = col
                kept += 1
            if len(finished[b]) < k and kept > 0:
                going.append(i)
        if not going or t == limit - 1:
            break
        # A row whose search has ended leaves the batch with its beams: the others no longer pay for it.
        keep = torch.tensor(going, device=logits.device)
        index = new_rows[keep].view(-1)
        decoder.reorder(index)
        if scorer is not None:
            scorer.advance(index, new_columns[keep].view(-1))
        max_new = max_new[index]
        tokens = torch.cat([tokens[index], new_tokens[keep].view(-1, 1)], dim=1)
        columns = torch.cat([columns[index], new_columns[keep].view(-1, 1)], dim=1)
        scores = new_scores[keep]
        live = [live[i] for i in going]
        logits = decoder.step(new_tokens[keep].view(-1))
    results = []
    for b in range(batch):
        if not finished[b]:  # nothing ended: take the best live beam
            i = live.index(b)
            finished[b].append((scores[i, 0].item(), tokens[i * k].tolist()))
        results.append(max(finished[b], key=lambda s: s[0])[1])
    return results
