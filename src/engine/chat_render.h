#pragma once
// Chat templates as llama-server renders them: upstream's common_chat_templates_* (its jinja
// engine, tool-call formats, JSON-schema grammars) and its parser of the model's reply. JSON
// crosses this boundary as text in OpenAI's chat format; upstream's types stay inside.
#include <map>
#include <memory>
#include <string>

#include "chat.h"
#include "grammar.h"

namespace llama_mtp {

struct ChatRequest {
    std::string messages_json;  // OpenAI messages array
    std::string tools_json;     // OpenAI tools array, "" : none
    std::string tool_choice = "auto";
    std::string json_schema;  // "" : none
    bool add_generation_prompt = true;
    bool parallel_tool_calls = false;
    bool enable_thinking = true;
    std::map<std::string, std::string> template_kwargs;  // values as JSON text
};

struct ChatPrompt {
    std::string prompt;
    std::shared_ptr<const Grammar> grammar;  // null: free text
    std::vector<std::string> stops;          // the template's additional stop strings
    std::string format;                      // upstream's name of the reply format
    bool parse_tool_calls = false;
    bool supports_thinking = false;  // the reply may open with reasoning the parser separates
    common_chat_params params;       // what the reply's parser needs
};

class ChatTemplates {
public:
    // override_source "" : the model's own template (tokenizer.chat_template), else ChatML; one
    // of llama.cpp's built-in template names (llama_chat_builtin_templates: "chatml",
    // "command-r", ...): that template, rendered as llama.cpp renders it without jinja (text
    // messages only: no tools, no output format)
    ChatTemplates(const llama_model * model, const std::string & override_source);
    std::string source() const;
    bool has_model_template() const { return explicit_; }
    ChatPrompt apply(const ChatRequest & request) const;

private:
    common_chat_templates_ptr tmpls_;
    bool explicit_ = false;
    bool builtin_ = false;  // a built-in template name: llama.cpp's non-jinja rendering
};

// The reply as an OpenAI assistant message (JSON text): content, reasoning_content, tool_calls.
// is_partial: the reply is still streaming (lenient).
// Refuses JSON text nested deeper than upstream's recursive walks can take (InvalidArgumentError).
void check_json_depth(const std::string & text, const char * field);

std::string parse_chat_reply(const ChatPrompt & prompt, const std::string & text, bool is_partial);

}  // namespace llama_mtp
