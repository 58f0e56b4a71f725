#include "grammar.h"

#include <exception>

#include "chat_render.h"
#include "errors.h"
#include "json-schema-to-grammar.h"
#include "json.h"
#include "sampling.h"

namespace llama_mtp {

namespace {

// upstream's GBNF parser takes x{m,n} with m > n and then loops allocating until the process
// runs out of memory: refuse such repetitions first. Quoted literals and character classes
// are skipped, where braces are plain characters.
void check_repetitions(const std::string & g) {
    for (size_t i = 0; i < g.size(); ++i) {
        const char c = g[i];
        if (c == '"' || c == '[') {
            const char close = c == '"' ? '"' : ']';
            for (++i; i < g.size() && g[i] != close; ++i) {
                if (g[i] == '\\') ++i;
            }
            continue;
        }
        if (c == '#') {  // a comment, to the end of the line
            while (i < g.size() && g[i] != '\n') ++i;
            continue;
        }
        if (c != '{') continue;
        size_t j = i + 1;
        auto number = [&](uint64_t & v) {
            while (j < g.size() && g[j] == ' ') ++j;
            const size_t start = j;
            v = 0;
            while (j < g.size() && g[j] >= '0' && g[j] <= '9' && j - start < 12) v = v * 10 + (uint64_t) (g[j++] - '0');
            return j > start;
        };
        uint64_t lo = 0, hi = 0;
        if (!number(lo)) continue;
        while (j < g.size() && g[j] == ' ') ++j;
        if (j < g.size() && g[j] == ',' && (++j, number(hi)) && hi < lo) {
            throw InvalidArgumentError("the grammar repeats something {" + std::to_string(lo) + "," +
                                       std::to_string(hi) + "} times: the minimum is above the maximum");
        }
    }
}

}  // namespace

void CommonSamplerDeleter::operator()(common_sampler * s) const {
    common_sampler_free(s);
}

CommonSamplerPtr new_grammar_sampler(const llama_model * model, const SamplerParams & p, uint32_t seed,
                                     const Grammar & g, const std::vector<llama_logit_bias> & bias) {
    validate_sampler_params(p);
    const llama_vocab * vocab = llama_model_get_vocab(model);
    common_params_sampling sp;
    sp.seed = seed;
    sp.temp = p.temperature;
    sp.top_k = p.top_k;
    sp.top_p = p.top_p;
    sp.min_p = p.min_p;
    sp.no_perf = true;
    sp.logit_bias = bias;
    sp.samplers = {COMMON_SAMPLER_TYPE_TOP_K, COMMON_SAMPLER_TYPE_TOP_P, COMMON_SAMPLER_TYPE_MIN_P,
                   COMMON_SAMPLER_TYPE_TEMPERATURE};
    check_repetitions(g.gbnf);
    const common_grammar_type type = g.kind == Grammar::Kind::User           ? COMMON_GRAMMAR_TYPE_USER
                                     : g.kind == Grammar::Kind::OutputFormat ? COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT
                                                                             : COMMON_GRAMMAR_TYPE_TOOL_CALLS;
    sp.grammar = common_grammar(type, g.gbnf);
    sp.grammar_lazy = g.lazy;
    sp.generation_prompt = g.generation_prompt;
    for (const std::string & t : g.preserved_tokens) {
        const auto ids = common_tokenize(vocab, t, false, true);
        if (ids.size() == 1) sp.preserved_tokens.insert(ids[0]);
    }
    // as llama-server does: a trigger word that is one preserved token triggers on that token
    for (const common_grammar_trigger & t : g.triggers) {
        if (t.type == COMMON_GRAMMAR_TRIGGER_TYPE_WORD) {
            const auto ids = common_tokenize(vocab, t.value, false, true);
            if (ids.size() == 1 && sp.preserved_tokens.count(ids[0])) {
                sp.grammar_triggers.push_back({COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN, t.value, ids[0]});
                continue;
            }
        }
        sp.grammar_triggers.push_back(t);
    }
    if (g.lazy && sp.grammar_triggers.empty()) {
        throw InvalidArgumentError("a lazy grammar needs at least one trigger");
    }
    common_sampler * s = nullptr;
    try {
        s = common_sampler_init(model, sp);
    } catch (const std::exception & e) {
        throw InvalidArgumentError(std::string("the grammar could not be used: ") + e.what());
    }
    if (s == nullptr) {
        throw InvalidArgumentError("the grammar could not be parsed (GBNF with a 'root' rule is expected)");
    }
    return CommonSamplerPtr(s);
}

int32_t grammar_sample(common_sampler * s, llama_context * ctx, int32_t row) {
    const llama_token t = common_sampler_sample(s, ctx, row);
    common_sampler_accept(s, t, true);
    return t;
}

Grammar Grammar::from_gbnf(const llama_model * model, const std::string & gbnf) {
    if (gbnf.empty()) throw InvalidArgumentError("the grammar is empty");
    Grammar g;
    g.gbnf = gbnf;
    new_grammar_sampler(model, SamplerParams{}, 0, g);  // parses it
    return g;
}

Grammar Grammar::from_json_schema(const llama_model * model, const std::string & schema_json) {
    Grammar g;
    g.kind = Kind::OutputFormat;
    check_json_depth(schema_json, "the JSON schema");
    try {
        g.gbnf = json_schema_to_grammar(common_json::parse(schema_json));
    } catch (const std::exception & e) {
        throw InvalidArgumentError(std::string("the JSON schema could not be turned into a grammar: ") + e.what());
    }
    new_grammar_sampler(model, SamplerParams{}, 0, g);
    return g;
}

const char * Grammar::kind_name() const {
    switch (kind) {
        case Kind::User:
            return "user";
        case Kind::OutputFormat:
            return "output_format";
        case Kind::ToolCalls:
            return "tool_calls";
    }
    return "user";
}

}  // namespace llama_mtp
