#pragma once
// Constrained sampling through upstream's grammar support: a GBNF grammar, one made from a JSON
// schema, or one a chat template produced for tool calls (lazy, with triggers). Sequences with a
// grammar sample with upstream's common_sampler, which feeds the template's generation prompt
// to the grammar and handles triggers as llama-server does.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "sampler.h"

struct common_sampler;

namespace llama_mtp {

struct Grammar {
    enum class Kind { User, OutputFormat, ToolCalls };
    Kind kind = Kind::User;
    std::string gbnf;
    bool lazy = false;
    std::vector<common_grammar_trigger> triggers;
    std::vector<std::string> preserved_tokens;  // texts that must stay single tokens
    std::string generation_prompt;              // what the template put after the last message

    // A user's GBNF grammar (start rule "root"), parsed once here so errors surface early.
    static Grammar from_gbnf(const llama_model * model, const std::string & gbnf);
    // JSON schema (as JSON text) -> GBNF by upstream's json_schema_to_grammar.
    static Grammar from_json_schema(const llama_model * model, const std::string & schema_json);
    const char * kind_name() const;
};

struct CommonSamplerDeleter {
    void operator()(common_sampler * s) const;
};
using CommonSamplerPtr = std::unique_ptr<common_sampler, CommonSamplerDeleter>;

// upstream's sampler for one sequence with a grammar; throws InvalidArgumentError when the
// grammar does not parse for this model's vocabulary. bias: added to the logits first.
CommonSamplerPtr new_grammar_sampler(const llama_model * model, const SamplerParams & p, uint32_t seed,
                                     const Grammar & g, const std::vector<llama_logit_bias> & bias = {});
// sample row `row` of ctx's logits through the grammar and accept the token into it
int32_t grammar_sample(common_sampler * s, llama_context * ctx, int32_t row);

}  // namespace llama_mtp
