#include "chat_render.h"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include "errors.h"
#include "json-schema-to-grammar.h"
#include "json.h"

namespace llama_mtp {

namespace {

// Any failure of f, as error E: the caller's data (user_input: InvalidArgumentError) is checked
// first, so what fails inside the template engine afterwards is the template's (guarded:
// ChatTemplateError).
template <typename E, typename F>
auto failures_as(const char * what, F && f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error &) {
        throw;
    } catch (const std::exception & e) {
        throw E(std::string(what) + ": " + e.what());
    }
}

template <typename F>
auto guarded(const char * what, F && f) -> decltype(f()) {
    return failures_as<ChatTemplateError>(what, std::forward<F>(f));
}

template <typename F>
auto user_input(const char * what, F && f) -> decltype(f()) {
    return failures_as<InvalidArgumentError>(what, std::forward<F>(f));
}

common_json parse_json(const std::string & text, const char * field) {
    check_json_depth(text, field);
    try {
        return common_json::parse(text);
    } catch (const std::exception & e) {
        throw InvalidArgumentError(std::string(field) + " is not valid JSON: " + e.what());
    }
}

}  // namespace

// upstream walks JSON values recursively (dump, conversions): a deeply nested document would
// overflow the stack. No conversation, tool or schema needs more than this.
constexpr int kMaxJsonDepth = 128;

void check_json_depth(const std::string & text, const char * field) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth) {
                throw InvalidArgumentError(std::string(field) + " is nested more than " +
                                           std::to_string(kMaxJsonDepth) + " levels deep");
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
}

namespace {

bool is_builtin_template_name(const std::string & name) {
    std::vector<const char *> names((size_t) llama_chat_builtin_templates(nullptr, 0));
    llama_chat_builtin_templates(names.data(), names.size());
    return std::any_of(names.begin(), names.end(), [&](const char * n) { return name == n; });
}

}  // namespace

ChatTemplates::ChatTemplates(const llama_model * model, const std::string & override_source) {
    guarded("loading the chat template", [&] {
        builtin_ = is_builtin_template_name(override_source);
        if (!override_source.empty() && !builtin_ && !common_chat_verify_template(override_source, true)) {
            throw InvalidArgumentError("the chat template override does not parse as a jinja template");
        }
        tmpls_ = common_chat_templates_init(model, override_source);
        if (!tmpls_) throw ChatTemplateError("no chat template could be loaded");
        explicit_ = common_chat_templates_was_explicit(tmpls_.get());
        return 0;
    });
}

std::string ChatTemplates::source() const {
    return common_chat_templates_source(tmpls_.get());
}

ChatPrompt ChatTemplates::apply(const ChatRequest & r) const {
    return guarded("rendering the chat template", [&] {
        common_chat_templates_inputs in;
        const common_json messages = parse_json(r.messages_json, "messages");
        // an empty conversation renders the generation prompt alone (Anthropic's API allows one)
        if (!messages.is_array()) {
            throw InvalidArgumentError("messages must be an array");
        }
        in.messages = user_input("messages", [&] { return common_chat_msgs_parse_oaicompat(messages); });
        if (!r.tools_json.empty()) {
            const common_json tools = parse_json(r.tools_json, "tools");
            in.tools = user_input("tools", [&] { return common_chat_tools_parse_oaicompat(tools); });
        }
        in.tool_choice =
            user_input("tool_choice", [&] { return common_chat_tool_choice_parse_oaicompat(r.tool_choice); });
        if (!r.json_schema.empty()) {
            const common_json schema = parse_json(r.json_schema, "json_schema");
            user_input("json_schema", [&] { return json_schema_to_grammar(schema); });
            in.json_schema = r.json_schema;
        }
        if (builtin_ && (!in.tools.empty() || !r.json_schema.empty())) {
            throw InvalidArgumentError(
                "a built-in template name renders text messages only (no tools, no response_format): give a jinja "
                "template");
        }
        in.use_jinja = !builtin_;
        in.add_generation_prompt = r.add_generation_prompt;
        in.parallel_tool_calls = r.parallel_tool_calls;
        in.enable_thinking = r.enable_thinking;
        in.chat_template_kwargs = r.template_kwargs;
        ChatPrompt out;
        out.params = common_chat_templates_apply(tmpls_.get(), in);
        const common_chat_params & p = out.params;
        out.prompt = p.prompt;
        out.stops = p.additional_stops;
        out.format = common_chat_format_name(p.format);
        out.parse_tool_calls = !in.tools.empty() && in.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE;
        out.supports_thinking = p.supports_thinking;
        if (!p.grammar.empty()) {
            auto g = std::make_shared<Grammar>();
            g->kind = out.parse_tool_calls ? Grammar::Kind::ToolCalls : Grammar::Kind::OutputFormat;
            g->gbnf = p.grammar;
            g->lazy = p.grammar_lazy;
            g->triggers = p.grammar_triggers;
            g->preserved_tokens = p.preserved_tokens;
            g->generation_prompt = p.generation_prompt;
            out.grammar = std::move(g);
        }
        return out;
    });
}

std::string parse_chat_reply(const ChatPrompt & prompt, const std::string & text, bool is_partial) {
    return guarded("parsing the reply", [&] {
        common_chat_parser_params pp(prompt.params);
        pp.parse_tool_calls = prompt.parse_tool_calls;
        if (!prompt.params.parser.empty()) pp.parser.load(prompt.params.parser);
        common_chat_msg msg = common_chat_parse(text, is_partial, pp);
        if (msg.role.empty()) msg.role = "assistant";
        return msg.to_json_oaicompat().dump();
    });
}

}  // namespace llama_mtp
