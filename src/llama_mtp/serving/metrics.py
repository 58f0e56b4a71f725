"""/metrics in Prometheus' text format (prometheus_client): request counts by endpoint and
status, the queue, throughput, and MTP's acceptance per position, mean acceptance length and
the draft lengths chosen, read from the engine when scraped; and llama-server's `llamacpp:*`
families (llamacpp_metrics.py)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .engine import BatchEngine
from .llamacpp_metrics import llamacpp_metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerMetrics(Collector):
    def __init__(self, engine: BatchEngine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def count_request(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._requests[(endpoint, str(status))] += 1

    def render(self) -> bytes:
        return generate_latest(self.registry) + llamacpp_metrics(self.engine).encode()

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        s = e.stats
        requests = CounterMetricFamily(
            "llama_mtp_requests", "HTTP requests by endpoint and status", labels=["endpoint", "status"]
        )
        with self._lock:
            for (endpoint, status), n in sorted(self._requests.items()):
                requests.add_metric([endpoint, status], n)
        yield requests
        outcomes = CounterMetricFamily("llama_mtp_sequences", "Generated sequences by outcome", labels=["outcome"])
        outcomes.add_metric(["finished"], s.requests_finished)
        outcomes.add_metric(["cancelled"], s.requests_cancelled)
        outcomes.add_metric(["failed"], s.requests_failed)
        yield outcomes
        yield GaugeMetricFamily("llama_mtp_queue_length", "Requests waiting for a sequence slot", value=e.queue_length)
        yield GaugeMetricFamily("llama_mtp_active_sequences", "Sequences being generated", value=e.active)
        yield GaugeMetricFamily("llama_mtp_parallel_sequences", "Sequence slots", value=e.parallel)
        yield CounterMetricFamily("llama_mtp_generated_tokens", "Tokens generated", value=s.tokens_generated)
        yield CounterMetricFamily(
            "llama_mtp_prompt_tokens", "Prompt tokens of the requests (cached ones included)", value=s.prompt_tokens
        )
        yield CounterMetricFamily(
            "llama_mtp_cached_prompt_tokens",
            "Prompt tokens taken from a slot's kept KV, not decoded again",
            value=s.cached_prompt_tokens,
        )
        yield CounterMetricFamily("llama_mtp_steps", "Target decodes (one batch for every sequence)", value=s.steps)
        yield GaugeMetricFamily(
            "llama_mtp_tokens_per_second", "Generated tokens per second over the last 10 s", value=s.tokens_per_second()
        )
        generator = e.llm.generator
        drafted = CounterMetricFamily("llama_mtp_drafter_draft_tokens", "Draft tokens verified, by drafter", labels=["drafter"])
        accepted = CounterMetricFamily(
            "llama_mtp_drafter_accepted_tokens", "Draft tokens accepted, by drafter", labels=["drafter"]
        )
        steps = CounterMetricFamily("llama_mtp_drafter_steps", "Steps that verified drafts of each drafter", labels=["drafter"])
        acceptance = GaugeMetricFamily(
            "llama_mtp_drafter_acceptance", "Accepted / verified draft tokens, by drafter", labels=["drafter"]
        )
        for name, tally in generator.drafter_stats.items():
            drafted.add_metric([name], tally["draft_tokens"])
            accepted.add_metric([name], tally["accepted_tokens"])
            steps.add_metric([name], tally["steps"])
            acceptance.add_metric([name], tally["acceptance_rate"])
        yield drafted
        yield accepted
        yield steps
        yield acceptance
        session = generator.session
        if session is not None:
            stats = session.stats
            per_pos = GaugeMetricFamily("llama_mtp_acceptance", "MTP acceptance rate per draft position", labels=["position"])
            for i, rate in enumerate(stats.acceptance_per_position):
                per_pos.add_metric([str(i + 1)], rate)
            yield per_pos
            yield GaugeMetricFamily(
                "llama_mtp_mean_acceptance_length",
                "Tokens gained per verify step (1 + accepted drafts)",
                value=stats.mean_acceptance_length,
            )
            lengths = CounterMetricFamily("llama_mtp_draft_length_steps", "Steps that chose each draft length", labels=["length"])
            for k, n in enumerate(generator.draft_length_counts):
                lengths.add_metric([str(k)], n)
            yield lengths
            controller = generator.controller
            if controller is not None:  # what "adaptive" expects of each length at the current load
                speed = GaugeMetricFamily(
                    "llama_mtp_expected_speed", "Expected tokens per second per sequence of each draft length", labels=["length"]
                )
                cost = GaugeMetricFamily(
                    "llama_mtp_step_seconds", "Expected seconds per sequence of a step at each draft length", labels=["length"]
                )
                for k, (v, t) in enumerate(zip(controller.expected_speed, controller.step_seconds, strict=True)):
                    speed.add_metric([str(k)], float(v))
                    cost.add_metric([str(k)], float(t))
                yield speed
                yield cost
