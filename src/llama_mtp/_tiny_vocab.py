"""The vocabulary of the tiny models of llama_mtp.testing: SentencePiece-style pieces (byte
fallback, ASCII characters, syllables), pseudo-words, and the markup tokens and chat template
of the chat models."""

from __future__ import annotations

# A ChatML chat template with tools in the Hermes/Qwen style (tool calls as JSON between
# <tool_call> tags), for tiny models that chat: tiny_mtp_model(chat_template=TINY_CHAT_TEMPLATE).
TINY_CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "You may call functions. Their signatures:\n<tools>"
    "{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools>\n\n"
    "For each call, return a JSON object with the function name and arguments within <tool_call></tool_call> tags:\n"
    '<tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call><|im_end|>\n'
    "{% elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'user' or (message.role == 'system' and not loop.first) %}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% elif message.role == 'assistant' %}<|im_start|>assistant"
    "{% if message.content %}\n{{ message.content }}{% endif %}"
    "{% for tool_call in message.tool_calls or [] %}"
    "{% if tool_call.function is defined %}{% set tool_call = tool_call.function %}{% endif %}"
    '\n<tool_call>{"name": "{{ tool_call.name }}", "arguments": '
    "{% if tool_call.arguments is string %}{{ tool_call.arguments }}{% else %}{{ tool_call.arguments | tojson }}{% endif %}"
    "}</tool_call>{% endfor %}<|im_end|>\n"
    "{% elif message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# the markup tokens such a template needs, as chat models have them (the last ids of the
# vocabulary; token types 3: control, 4: user-defined)
CHAT_VOCAB_VERSION = 1  # the layout of chat models' vocabularies (below and in _write_gguf)
CHAT_TOKENS = (("<|im_start|>", 3), ("<|im_end|>", 3), ("<tool_call>", 4), ("</tool_call>", 4))

_CONSONANTS = "bdfghjklmnprstvwxyz"  # 19
_VOWELS = "aeiou"
_SPACE = "\u2581"  # SentencePiece word-boundary marker

# gguf token types
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6


def base_vocab() -> tuple[list[str], list[float], list[int]]:
    pieces: list[str] = ["<unk>", "<s>", "</s>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL]
    pieces += [f"<0x{b:02X}>" for b in range(256)]
    types += [_BYTE] * 256
    chars = [chr(c) for c in range(33, 127)]
    normal = [_SPACE] + chars + [_SPACE + c for c in chars]
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    # syllables and their word-initial forms make the pseudo-words reachable by SPM merges
    normal += syllables + [_SPACE + s for s in syllables]
    pieces += normal
    types += [_NORMAL] * len(normal)
    scores = [0.0] * len(pieces)
    for i, p in enumerate(pieces):
        if types[i] == _NORMAL:
            scores[i] = -100.0 + len(p)  # longer pieces merge first
    return pieces, scores, types


def word_pieces(n: int) -> list[str]:
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    words = [_SPACE + a + b for a in syllables for b in syllables]
    if n > len(words):  # large vocabularies: three-syllable words after the two-syllable ones
        words += [w + c for w in words for c in syllables][: n - len(words)]
    if n > len(words):
        raise ValueError(f"n_vocab too large for the pseudo-word generator (max {len(words)} words)")
    return words[:n]


def tokenizer_pieces(n_vocab: int, *, chat: bool) -> tuple[list[str], list[float], list[int]]:
    """The vocabulary of a tiny model (pieces, scores, gguf token types): the base vocabulary,
    then pseudo-words up to n_vocab; chat models also reorder whitespace last and end with the
    markup tokens of CHAT_TOKENS."""
    pieces, scores, types = base_vocab()
    if chat:
        # The tiny model scores every non-word token alike, so a grammar's choice among them
        # falls to the lowest id. Chat models list whitespace last: constrained replies (JSON,
        # tool calls) then take the structural characters, not the optional whitespace.
        order = sorted(range(3, len(pieces)), key=lambda i: (types[i] == _BYTE or pieces[i] == _SPACE, i))
        keep = [0, 1, 2, *order]
        pieces, scores, types = [pieces[i] for i in keep], [scores[i] for i in keep], [types[i] for i in keep]
    words = word_pieces(n_vocab - len(pieces))
    pieces += words
    scores += [-100.0 + len(p) + 10.0 for p in words]
    types += [_NORMAL] * len(words)
    if chat:
        # chat models: the template's markup as whole tokens (control / user-defined), and no
        # space prefix, so that "<|im_start|>assistant" tokenizes as the template wrote it
        for i, (text, kind) in enumerate(CHAT_TOKENS):
            j = len(pieces) - len(CHAT_TOKENS) + i
            pieces[j], types[j], scores[j] = text, kind, 0.0
    return pieces, scores, types
