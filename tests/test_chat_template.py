"""ChatTemplate, ChatPrompt and Grammar (src/bindings/chat_template.cpp): upstream's template
engine, reply parser and grammars behind typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_helpers import ANSWER_SCHEMA, WEATHER_TOOL, chat_model_path
from child import run_child

import llama_mtp
from llama_mtp.testing import TINY_CHAT_TEMPLATE

HELLO = json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}])


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> llama_mtp.Model:
    return llama_mtp.Model(chat_model_path(tmp_path_factory.mktemp("chat")))


def test_the_models_template_renders_as_written(chat_model: llama_mtp.Model) -> None:
    assert chat_model.chat_template == TINY_CHAT_TEMPLATE
    t = llama_mtp.ChatTemplate(chat_model)
    assert t.from_model and t.source == TINY_CHAT_TEMPLATE
    p = t.apply(HELLO)
    assert p.prompt == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n")
    assert p.grammar is None and not p.parses_tool_calls
    assert not t.apply(HELLO, add_generation_prompt=False).prompt.endswith("<|im_start|>assistant\n")
    # the markup is made of the model's own special tokens
    ids = chat_model.tokenize(p.prompt, add_special=False, parse_special=True)
    assert chat_model.tokenize("<|im_start|>", add_special=False, parse_special=True)[0] in ids


def test_without_a_template_chatml_is_used_and_an_override_wins(model: llama_mtp.Model) -> None:
    assert model.chat_template is None
    t = llama_mtp.ChatTemplate(model)
    assert not t.from_model and "<|im_start|>" in t.apply(HELLO).prompt
    custom = llama_mtp.ChatTemplate(model, source="{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}")
    assert custom.apply(HELLO).prompt == "[system] Be brief.\n[user] Hello\n"


def test_bad_input_raises_typed_errors(chat_model: llama_mtp.Model) -> None:
    t = llama_mtp.ChatTemplate(chat_model)
    for bad in ("not json", "{}", '[{"content": "no role"}]'):
        with pytest.raises(llama_mtp.InvalidArgumentError):
            t.apply(bad)
    # an empty conversation is the generation prompt alone (Anthropic's API allows one)
    assert t.apply("[]").prompt == t.apply("[]", add_generation_prompt=True).prompt
    assert t.apply("[]", add_generation_prompt=False).prompt == ""
    with pytest.raises(llama_mtp.InvalidArgumentError):
        t.apply(HELLO, tools_json="[1, 2")
    with pytest.raises(llama_mtp.InvalidArgumentError):
        t.apply(HELLO, json_schema="{")
    for source in ("{% for %}", "{{ raise_exception('no') }}"):  # overrides are checked at once
        with pytest.raises(llama_mtp.InvalidArgumentError):
            llama_mtp.ChatTemplate(chat_model, source=source)
    # a template that fails on some conversations only: ChatTemplateError, and it stays usable
    picky = llama_mtp.ChatTemplate(
        chat_model,
        source=(
            "{% if messages | length > 3 %}{{ raise_exception('too long') }}{% endif %}"
            "{% for m in messages %}{{ m.content }}{% endfor %}"
        ),
    )
    with pytest.raises(llama_mtp.ChatTemplateError, match="too long"):
        picky.apply(json.dumps([{"role": "user", "content": "x"}] * 4))
    assert picky.apply(HELLO).prompt == "Be brief.Hello"
    assert issubclass(llama_mtp.ChatTemplateError, ValueError)


def test_tools_give_a_lazy_grammar_triggered_by_the_call_marker(chat_model: llama_mtp.Model) -> None:
    t = llama_mtp.ChatTemplate(chat_model)
    p = t.apply(HELLO, tools_json=json.dumps([WEATHER_TOOL]))
    assert p.parses_tool_calls and p.grammar is not None
    assert p.grammar.kind == "tool_calls" and p.grammar.lazy
    assert ("word", "<tool_call>") in p.grammar.triggers and "<tool_call>" in p.grammar.preserved_tokens
    assert '"get_weather"' in p.grammar.gbnf and '"\\"Paris\\""' in p.grammar.gbnf
    required = t.apply(HELLO, tools_json=json.dumps([WEATHER_TOOL]), tool_choice="required")
    assert required.grammar is not None and not required.grammar.lazy
    none = t.apply(HELLO, tools_json=json.dumps([WEATHER_TOOL]), tool_choice="none")
    assert none.grammar is None and not none.parses_tool_calls


def test_replies_are_parsed_into_openai_messages(chat_model: llama_mtp.Model) -> None:
    t = llama_mtp.ChatTemplate(chat_model)
    p = t.apply(HELLO, tools_json=json.dumps([WEATHER_TOOL]))
    call = json.loads(p.parse_reply('<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>'))
    assert call["role"] == "assistant" and not call.get("content")
    (tc,) = call["tool_calls"]
    assert tc["type"] == "function" and tc["function"]["name"] == "get_weather"
    assert json.loads(tc["function"]["arguments"]) == {"city": "Rome"}
    text = json.loads(p.parse_reply("Just words."))
    assert text["content"] == "Just words." and not text.get("tool_calls")
    partial = json.loads(p.parse_reply('Hi <tool_call>{"name": "get_w', partial=True))
    assert partial["content"].startswith("Hi")


def test_grammars_from_gbnf_and_json_schema(chat_model: llama_mtp.Model) -> None:
    g = llama_mtp.Grammar.from_gbnf(chat_model, 'root ::= "a" | "b"')
    assert g.kind == "user" and not g.lazy and g.triggers == [] and "root" in g.gbnf
    s = llama_mtp.Grammar.from_json_schema(chat_model, json.dumps(ANSWER_SCHEMA))
    assert s.kind == "output_format" and "boolean" in s.gbnf
    for bad in ("", "root ::= undefined-rule", "root ::= [", "not a grammar"):
        with pytest.raises(llama_mtp.InvalidArgumentError):
            llama_mtp.Grammar.from_gbnf(chat_model, bad)
    for bad_schema in ("{", "[1]", '{"type": "nonsense"}'):
        with pytest.raises(llama_mtp.InvalidArgumentError):
            llama_mtp.Grammar.from_json_schema(chat_model, bad_schema)


def test_hostile_grammars_schemas_and_conversations_are_typed_errors(tmp_path: Path) -> None:
    """In a child with a memory cap: upstream's parser loops allocating on x{5,2}; every one of
    these must be a typed error instead of a crash, an abort or memory exhaustion."""
    out = run_child(
        """
        import json, resource
        if "libasan" not in os.environ.get("LD_PRELOAD", ""):  # ASan reserves terabytes of address space
            resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
        m = L.Model(sys.argv[1])
        t = L.ChatTemplate(m)
        cases = [
            lambda: L.Grammar.from_gbnf(m, 'root ::= "a"{5,2}'),
            lambda: L.Grammar.from_gbnf(m, 'root ::= x\\nx ::= y\\ny ::= x'),
            lambda: L.Grammar.from_gbnf(m, 'root ::= root'),
            lambda: L.Grammar.from_gbnf(m, 'root ::= "x"{100000}'),
            lambda: L.Grammar.from_gbnf(m, "root ::= (" * 500),
            lambda: L.Grammar.from_json_schema(m, '{"type": "string", "minLength": 5, "maxLength": 2}'),
            lambda: L.Grammar.from_json_schema(m, '{"$ref": "#"}'),
            lambda: L.Grammar.from_json_schema(m, "[" * 100000 + "]" * 100000),
            lambda: t.apply("[" * 100000 + "]" * 100000),
            lambda: t.apply('[{"role": "user", "content": "x"}]', tools_json="[" * 100000 + "]" * 100000),
            lambda: t.apply('[{"role": "assistant", "tool_calls": [{"type": "function", "function": '
                            '{"name": "f", "arguments": "{bad"}}]}]'),
            lambda: t.apply('[{"role": "user", "content": "x"}]',
                            tools_json='[{"type": "function", "function": {"name": "f", "parameters": {"type": 1}}}]'),
        ]
        for case in cases:
            try:
                case()
                print("accepted")
            except L.LlamaError as e:
                print(type(e).__name__)
    """,
        str(chat_model_path(tmp_path)),
        timeout=300,
    )
    kinds = out.split()
    assert len(kinds) == 12 and kinds[:10] == ["InvalidArgumentError"] * 10, kinds
    assert all(k in ("InvalidArgumentError", "ChatTemplateError") for k in kinds), kinds


def test_closed_models_are_refused(tmp_path: Path) -> None:
    m = llama_mtp.Model(chat_model_path(tmp_path))
    m.close()
    with pytest.raises(llama_mtp.ClosedError):
        llama_mtp.ChatTemplate(m)
    with pytest.raises(llama_mtp.ClosedError):
        llama_mtp.Grammar.from_gbnf(m, 'root ::= "a"')


def test_a_built_in_template_name_renders_as_llama_cpp_does(chat_model: llama_mtp.Model) -> None:
    # llama.cpp's non-jinja templates by name (llama-server's --chat-template command-r)
    t = llama_mtp.ChatTemplate(chat_model, source="command-r")
    messages = '[{"role": "system", "content": "You are a test."}, {"role": "user", "content": "Hi there"}]'
    assert t.apply(messages).prompt == (
        "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a test.<|END_OF_TURN_TOKEN|>"
        "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
    )
    chatml = llama_mtp.ChatTemplate(chat_model, source="chatml").apply('[{"role": "user", "content": "Hi"}]').prompt
    assert chatml == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(llama_mtp.InvalidArgumentError, match="built-in template name"):  # text only
        t.apply(messages, tools_json='[{"type": "function", "function": {"name": "f"}}]')
    with pytest.raises(llama_mtp.InvalidArgumentError):  # a name that is not one is jinja, and this does not parse
        llama_mtp.ChatTemplate(chat_model, source="command-r {%")
