#include "chat_template.h"

#include <map>
#include <memory>
#include <string>

#include <nanobind/stl/map.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "chat_render.h"
#include "errors.h"
#include "model.h"
#include "py_strings.h"

namespace nb = nanobind;

namespace llama_mtp {

void bind_chat(nb::module_ & m) {
    nb::class_<Grammar>(m, "Grammar",
                        "A constraint for sampling through upstream's grammar sampler (GBNF). Verification "
                        "samples through it too, so MTP drafting keeps working with it.")
        .def_static(
            "from_gbnf",
            [](const Model & model, const std::string & gbnf) {
                const ModelPtr keep = model.shared();  // a close() meanwhile cannot free the weights
                const llama_model * mdl = keep.get();
                nb::gil_scoped_release release;
                return Grammar::from_gbnf(mdl, gbnf);
            },
            nb::arg("model"), nb::arg("gbnf"),
            "A GBNF grammar (start rule 'root'), checked against the model's vocabulary. Raises "
            "InvalidArgumentError when it does not parse.")
        .def_static(
            "from_json_schema",
            [](const Model & model, const std::string & schema_json) {
                const ModelPtr keep = model.shared();  // a close() meanwhile cannot free the weights
                const llama_model * mdl = keep.get();
                nb::gil_scoped_release release;
                return Grammar::from_json_schema(mdl, schema_json);
            },
            nb::arg("model"), nb::arg("schema_json"),
            "The grammar of the JSON documents a JSON schema (given as JSON text) allows, by upstream's "
            "json_schema_to_grammar.")
        .def_prop_ro(
            "gbnf", [](const Grammar & g) { return g.gbnf; }, "The grammar's GBNF text.")
        .def_prop_ro(
            "kind", [](const Grammar & g) { return std::string(g.kind_name()); },
            "\"user\", \"output_format\" (a JSON schema) or \"tool_calls\" (a chat template's).")
        .def_prop_ro(
            "lazy", [](const Grammar & g) { return g.lazy; },
            "True when it constrains only from a trigger on (tool calls inside free text).")
        .def_prop_ro(
            "triggers",
            [](const Grammar & g) {
                static const char * kinds[] = {"token", "word", "pattern", "pattern_full"};
                std::vector<std::pair<std::string, std::string>> out;
                for (const auto & t : g.triggers) out.emplace_back(kinds[(int) t.type & 3], t.value);
                return out;
            },
            "What starts a lazy grammar: (kind, value) pairs, kind \"token\", \"word\", \"pattern\" or "
            "\"pattern_full\" (a regex over the whole output).")
        .def_prop_ro(
            "preserved_tokens", [](const Grammar & g) { return g.preserved_tokens; },
            "Texts the template keeps as single tokens.")
        .def_prop_ro(
            "generation_prompt", [](const Grammar & g) { return g.generation_prompt; },
            "The text the template put after the last message, fed to the grammar first.")
        .def("__repr__", [](const Grammar & g) {
            return "Grammar(kind='" + std::string(g.kind_name()) + "', lazy=" + (g.lazy ? "True" : "False") + ", " +
                   std::to_string(g.gbnf.size()) + " bytes of GBNF)";
        });

    nb::class_<ChatPrompt>(m, "ChatPrompt", "A conversation rendered by a ChatTemplate, and how to read the reply.")
        .def_prop_ro(
            "prompt", [](const ChatPrompt & p) { return utf8_lenient(p.prompt); }, "The prompt text.")
        .def_prop_ro(
            "grammar", [](const ChatPrompt & p) { return p.grammar; }, nb::sig("def grammar(self) -> Grammar | None"),
            "The constraint of the reply (tools or a JSON schema), None for free text.")
        .def_prop_ro(
            "stops", [](const ChatPrompt & p) { return p.stops; }, "The template's extra stop strings.")
        .def_prop_ro(
            "format", [](const ChatPrompt & p) { return p.format; },
            "Upstream's name of the reply format its parser reads.")
        .def_prop_ro(
            "parses_tool_calls", [](const ChatPrompt & p) { return p.parse_tool_calls; },
            "True when the reply is parsed for tool calls.")
        .def_prop_ro(
            "plain_content", [](const ChatPrompt & p) { return !p.parse_tool_calls && !p.supports_thinking; },
            "True when the reply is its content as generated (no tool calls or reasoning to parse out): "
            "a stream can pass text through as it comes.")
        .def(
            "parse_reply",
            [](const ChatPrompt & p, const std::string & text, bool partial) {
                nb::gil_scoped_release release;
                return parse_chat_reply(p, text, partial);
            },
            nb::arg("text"), nb::kw_only(), nb::arg("partial") = false,
            "The reply as an OpenAI assistant message in JSON text (content, reasoning_content, "
            "tool_calls). partial: the reply is still streaming.");

    nb::class_<ChatTemplates>(m, "ChatTemplate",
                              "A model's chat template, rendered by upstream's jinja engine as llama-server does.")
        .def(
            "__init__",
            [](ChatTemplates * self, const Model & model, const std::string & override_source) {
                const ModelPtr keep = model.shared();  // a close() meanwhile cannot free the weights
                const llama_model * mdl = keep.get();
                nb::gil_scoped_release release;
                new (self) ChatTemplates(mdl, override_source);
            },
            nb::arg("model"), nb::kw_only(), nb::arg("source") = std::string(),
            "The model's template (tokenizer.chat_template; ChatML when it has none), or `source` "
            "(jinja text) instead.")
        .def_prop_ro("source", &ChatTemplates::source, "The jinja source in use.")
        .def_prop_ro("from_model", &ChatTemplates::has_model_template,
                     "True when the template came from the model or an override, not the ChatML fallback.")
        .def(
            "apply",
            [](const ChatTemplates & t, const std::string & messages_json, const std::string & tools_json,
               const std::string & tool_choice, const std::string & json_schema, bool add_generation_prompt,
               bool parallel_tool_calls, bool enable_thinking, const std::map<std::string, std::string> & kwargs) {
                ChatRequest r{messages_json,         tools_json,          tool_choice,     json_schema,
                              add_generation_prompt, parallel_tool_calls, enable_thinking, kwargs};
                nb::gil_scoped_release release;
                return t.apply(r);
            },
            nb::arg("messages_json"), nb::kw_only(), nb::arg("tools_json") = std::string(),
            nb::arg("tool_choice") = "auto", nb::arg("json_schema") = std::string(),
            nb::arg("add_generation_prompt") = true, nb::arg("parallel_tool_calls") = false,
            nb::arg("enable_thinking") = true, nb::arg("template_kwargs") = std::map<std::string, std::string>{},
            "Render OpenAI-format messages (JSON text), with tools and a JSON schema for the reply. "
            "template_kwargs values are JSON text. Bad messages raise InvalidArgumentError, template "
            "failures ChatTemplateError.");
}

}  // namespace llama_mtp
