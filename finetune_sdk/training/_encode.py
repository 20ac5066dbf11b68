"""Canonical records → token ids and labels, for the trainer, inference and the benchmark.

Conversations go through the tokenizer's chat template (a simple default is installed when the tokenizer
has none). By default only assistant turns are learned: every other token's label is ``-100``. The
assistant spans are found by rendering the conversation one turn at a time, so any template works; tokens
are then mapped to spans through the fast tokenizer's character offsets. Text records (continued
pre-training) are learned on every token and split into ``max_length`` chunks rather than cut.

Packing puts several examples in one sequence. For continued pre-training the token stream is simply cut
into blocks (documents are separated by EOS, as in pre-training). For fine-tuning whole examples are
binned first-fit-decreasing and each restarts its ``position_ids``; transformers then builds a
block-diagonal causal mask, so packed examples never attend to each other.

Needs only a tokenizer object (no torch).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from finetune_sdk.data.records import Conversation, Record, TextRecord, Turn

__all__ = [
    "DEFAULT_CHAT_TEMPLATE",
    "IGNORE_INDEX",
    "EncodedSet",
    "Example",
    "encode_conversation",
    "encode_records",
    "encode_text",
    "ensure_chat_template",
    "messages_of",
    "pack_examples",
    "render_prompt",
]

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
_PACK_WINDOW = 64

#: used when a tokenizer has no chat template: role markers, the EOS token closes every turn
DEFAULT_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


@dataclass
class Example:
    """One training sequence. ``position_ids`` is set only for packed fine-tuning sequences."""

    input_ids: list[int]
    labels: list[int]
    position_ids: list[int] | None = None

    @property
    def n_label_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


@dataclass
class EncodedSet:
    """Encoded examples plus what was dropped or cut on the way (reported in the run's log)."""

    examples: list[Example] = field(default_factory=list)
    truncated: int = 0
    skipped: int = 0

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)


def ensure_chat_template(tokenizer: Any) -> bool:
    """Install :data:`DEFAULT_CHAT_TEMPLATE` when ``tokenizer`` has none. Returns whether it did."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return True


def messages_of(system: str | None, turns: Sequence[Turn]) -> list[dict[str, str]]:
    """OpenAI-style messages for a chat template."""
    out: list[dict[str, str]] = []
    if system:
        out.append({"role": "system", "content": system})
    out.extend({"role": t.role, "content": t.text} for t in turns)
    return out


def _render(tokenizer: Any, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)
    return str(text)


def render_prompt(tokenizer: Any, system: str | None, turns: Sequence[Turn]) -> str:
    """The text a model continues to answer ``turns`` (the template with the generation prompt)."""
    return _render(tokenizer, messages_of(system, turns), add_generation_prompt=True)


def _assistant_spans(tokenizer: Any, messages: list[dict[str, str]], full: str) -> list[tuple[int, int]]:
    """Character spans of ``full`` that the assistant wrote, including the template's end-of-turn marker."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = _render(tokenizer, messages[:i], add_generation_prompt=True) if i else ""
        upto = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if i and full.startswith(upto) and upto.startswith(prefix) and len(prefix) >= cursor:
            start, end = len(prefix), len(upto)
            # Templates that end a turn with a newline put it outside the turn; keep the marker only.
            while end > start and upto[end - 1] in "\n ":
                end -= 1
        else:  # a template that is not prefix-stable: fall back to finding the content itself
            start = full.find(message["content"], cursor)
            if start < 0:
                continue
            end = start + len(message["content"])
            eos = getattr(tokenizer, "eos_token", None)
            if isinstance(eos, str) and eos and full.startswith(eos, end):
                end += len(eos)
        spans.append((start, end))
        cursor = end
    return spans


def _tokenize_with_labels(tokenizer: Any, full: str, spans: list[tuple[int, int]],
                          train_on_inputs: bool) -> tuple[list[int], list[int]]:
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        if train_on_inputs:
            return ids, list(ids)
        labels = []
        for token, (start, end) in zip(ids, enc["offset_mapping"], strict=True):
            inside = any(s <= start < e or (start == end and s < end <= e) for s, e in spans)
            labels.append(token if inside else IGNORE_INDEX)
        return ids, labels
    # Slow tokenizers have no offsets: encode segment by segment.
    ids, labels = [], []
    cursor = 0
    for start, end in [*spans, (len(full), len(full))]:
        for a, b, learn in ((cursor, start, train_on_inputs), (start, end, True)):
            if b > a:
                seg = list(tokenizer.encode(full[a:b], add_special_tokens=False))
                ids.extend(seg)
                labels.extend(seg if learn else [IGNORE_INDEX] * len(seg))
        cursor = end
    return ids, labels


def encode_conversation(tokenizer: Any, conversation: Conversation, *, max_length: int,
                        train_on_inputs: bool = False) -> tuple[Example | None, bool]:
    """Token ids and labels of one conversation; ``(None, truncated)`` when nothing is left to learn."""
    messages = messages_of(conversation.system, conversation.turns)
    full = _render(tokenizer, messages, add_generation_prompt=False)
    spans = _assistant_spans(tokenizer, messages, full)
    ids, labels = _tokenize_with_labels(tokenizer, full, spans, train_on_inputs)
    truncated = len(ids) > max_length
    ids, labels = ids[:max_length], labels[:max_length]
    example = Example(ids, labels)
    if example.n_label_tokens == 0:
        return None, truncated
    return example, truncated


def _special_ids(tokenizer: Any) -> tuple[int | None, int | None]:
    bos = getattr(tokenizer, "bos_token_id", None)
    eos = getattr(tokenizer, "eos_token_id", None)
    return (bos if isinstance(bos, int) else None), (eos if isinstance(eos, int) else None)


def encode_text(tokenizer: Any, text: str, *, max_length: int, packing: bool) -> list[list[int]]:
    """Token ids of one document, with BOS/EOS, split in ``max_length`` chunks (one list when ``packing``)."""
    bos, eos = _special_ids(tokenizer)
    ids = list(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])  # long: split below
    if bos is not None:
        ids.insert(0, bos)
    if eos is not None:
        ids.append(eos)
    if packing:
        return [ids]
    return [ids[i : i + max_length] for i in range(0, len(ids), max_length)]


def encode_records(tokenizer: Any, records: Iterable[Record], *, max_length: int, train_on_inputs: bool,
                   packing: bool) -> EncodedSet:
    """Encode every record (conversations and/or text) and pack them when asked."""
    out = EncodedSet()
    stream: list[list[int]] = []
    for record in records:
        if isinstance(record, TextRecord):
            for chunk in encode_text(tokenizer, record.text, max_length=max_length, packing=packing):
                if packing:
                    stream.append(chunk)
                elif len(chunk) > 1:
                    out.examples.append(Example(chunk, list(chunk)))
            continue
        example, truncated = encode_conversation(tokenizer, record, max_length=max_length,
                                                 train_on_inputs=train_on_inputs)
        out.truncated += int(truncated)
        if example is None:
            out.skipped += 1
        else:
            out.examples.append(example)
    if packing:
        out.examples = pack_examples(out.examples, max_length) + _pack_stream(stream, max_length)
    if out.truncated or out.skipped:
        logger.warning("%d records were truncated to maxSequenceLength=%d; %d had no assistant tokens left "
                       "and were skipped", out.truncated, max_length, out.skipped)
    return out


def _pack_stream(documents: list[list[int]], max_length: int) -> list[Example]:
    """Concatenate documents and cut the stream into ``max_length`` blocks (continued pre-training)."""
    flat = [token for doc in documents for token in doc]
    blocks = [flat[i : i + max_length] for i in range(0, len(flat), max_length)]
    return [Example(b, list(b)) for b in blocks if len(b) > 1]


def pack_examples(examples: list[Example], max_length: int) -> list[Example]:
    """Bin whole examples into sequences of at most ``max_length`` tokens (first-fit decreasing).

    Each example restarts ``position_ids`` at 0, which makes transformers mask attention between them.
    The result is deterministic for a given input order.
    """
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].input_ids), i))
    bins: list[list[int]] = []
    room: list[int] = []
    open_bins: list[int] = []  # bins with room left; only the newest few are searched (keeps it O(n))
    for i in order:
        size = len(examples[i].input_ids)
        for b in open_bins[-_PACK_WINDOW:]:
            if room[b] >= size:
                bins[b].append(i)
                room[b] -= size
                break
        else:
            bins.append([i])
            room.append(max_length - size)
            open_bins.append(len(bins) - 1)
        open_bins = [b for b in open_bins[-4 * _PACK_WINDOW:] if room[b] > 0]
    packed = []
    for members in bins:
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for i in sorted(members):
            ex = examples[i]
            ids.extend(ex.input_ids)
            labels.extend(ex.labels)
            positions.extend(range(len(ex.input_ids)))
        packed.append(Example(ids, labels, positions))
    return packed
