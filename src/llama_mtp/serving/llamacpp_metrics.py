"""llama-server's `llamacpp:*` metrics beside llama-mtp's own, in its exact text form (a counter's
TYPE line names the sample with its `_total`, which prometheus_client's counters do not), read
from the engine when /metrics is scraped."""

from __future__ import annotations

from .engine import BatchEngine


def llamacpp_metrics(engine: BatchEngine) -> str:
    """The `llamacpp:*` families as llama-server writes them (Prometheus text format)."""
    s = engine.stats
    generator = engine.llm.generator
    tallies = generator.drafter_stats.values()
    processed = s.prompt_tokens - s.cached_prompt_tokens
    t_prompt, t_gen = float(generator.t_prompt), float(generator.t_gen)
    counters = [
        ("prompt_tokens_total", "Number of prompt tokens processed.", processed),
        ("prompt_tokens_cached_total", "Number of prompt tokens taken from a slot's kept KV.", s.cached_prompt_tokens),
        ("prompt_seconds_total", "Prompt process time.", t_prompt),
        ("tokens_predicted_total", "Number of generation tokens processed.", s.tokens_generated),
        ("tokens_predicted_seconds_total", "Predict process time.", t_gen),
        ("n_decode_total", "Total number of llama_decode() calls.", s.steps),
        ("n_tokens_max", "Largest observed n_tokens (the KV cells a sequence holds).", engine.n_ctx_per_sequence),
        ("spec_decode_num_draft_tokens_total", "Draft tokens verified.", sum(t["draft_tokens"] for t in tallies)),
        ("spec_decode_num_accepted_tokens_total", "Draft tokens accepted.", sum(t["accepted_tokens"] for t in tallies)),
        ("spec_decode_num_drafts_total", "Drafts verified.", sum(t["drafts"] for t in tallies)),
    ]
    gauges = [
        ("prompt_tokens_seconds", "Average prompt throughput in tokens/s.", processed / t_prompt if t_prompt > 0 else 0.0),
        (
            "predicted_tokens_seconds",
            "Average generation throughput in tokens/s.",
            s.tokens_generated / t_gen if t_gen > 0 else 0.0,
        ),
        ("requests_processing", "Number of requests processing.", engine.active),
        ("requests_deferred", "Number of requests deferred.", engine.queue_length),
        ("n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call.", s.busy_slots_per_step()),
    ]
    lines = []
    for kind, rows in (("counter", counters), ("gauge", gauges)):
        for name, help_text, value in rows:
            lines += [f"# HELP llamacpp:{name} {help_text}", f"# TYPE llamacpp:{name} {kind}", f"llamacpp:{name} {float(value)}"]
    return "\n".join(lines) + "\n"
