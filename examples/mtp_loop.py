"""The manual MTP speculative loop, step by step from Python (the quick start of the MTP API).

    python examples/mtp_loop.py [--tokens 64] [--kind hybrid] [--n-draft-max 3] [--adaptive]

begin -> (draft -> decode the verify batch on the target -> process -> verify -> accept ->
trim the KV cache)*, exactly as upstream's speculative-simple does it, on a tiny synthesized
model (no download). llama_mtp.generate() runs the same loop in C++. --adaptive lets a
llama_mtp.DraftController pick each step's draft length (up to --n-draft-max), fed with the
loop's own timings, as n_draft_max="adaptive" does inside generate().
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import llama_mtp
from llama_mtp.testing import tiny_mtp_model


def mtp_loop(
    model: llama_mtp.Model,
    prompt: str,
    n_tokens: int,
    n_draft_max: int = 3,
    n_threads: int | None = None,
    controller: llama_mtp.DraftController | None = None,
) -> tuple[list[int], llama_mtp.MtpStats]:
    n_batch = 64
    target, draft = llama_mtp.mtp_contexts(
        model, n_draft_max=n_draft_max, n_ctx=len(prompt) + n_tokens + 64, n_batch=n_batch, n_threads=n_threads
    )
    session = llama_mtp.MtpSession(target, draft, llama_mtp.MtpSessionConfig(n_draft_max=n_draft_max))
    sampler = llama_mtp.Sampler()  # greedy

    tokens = model.tokenize(prompt)
    batch = llama_mtp.Batch(n_batch)
    if len(tokens) > 1:  # the prompt minus its last token; the loop decodes that one
        batch.set_tokens(tokens[:-1], logits_last=False)
        session.decode_target_and_process(batch)
    session.begin(0, tokens[:-1])

    n_past, last = len(tokens) - 1, int(tokens[-1])
    out: list[int] = []
    while len(out) < n_tokens:
        t0 = time.perf_counter()
        k = controller.next() if controller is not None else n_draft_max  # 0: no draft this step
        proposal = session.draft(0, n_past, last, n_max=min(k, n_tokens - len(out) - 1))
        t1 = time.perf_counter()
        # verify batch: [last, proposal...], logits for every row
        batch.set_tokens(np.concatenate(([last], proposal)).astype(np.int32), pos0=n_past)
        batch.logits[:] = 1
        session.decode_target(batch)
        t2 = time.perf_counter()
        session.process(batch)
        t3 = time.perf_counter()
        ids = []
        for i in range(len(proposal) + 1):
            tok = sampler.sample(target, i)
            ids.append(tok)
            if i == len(proposal) or tok != proposal[i]:
                break
        session.accept(0, len(ids) - 1)
        n_past += len(ids)
        last = ids[-1]
        out += ids
        # drop the rejected rows from both contexts (recurrent state: a snapshot rollback)
        target.memory_seq_rm(0, n_past, -1)
        draft.memory_seq_rm(0, n_past, -1)
        if controller is not None:
            controller.observe(
                k,
                len(proposal),
                len(ids) - 1,
                t_draft=t1 - t0,
                t_verify=(t2 - t1) + (time.perf_counter() - t3),
                t_process=t3 - t2,
            )
    return out[:n_tokens], session.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--kind", choices=["dense", "hybrid"], default="hybrid")
    parser.add_argument("--n-draft-max", type=int, default=3)
    parser.add_argument("--adaptive", action="store_true", help="a DraftController picks each step's length")
    args = parser.parse_args()
    llama_mtp.set_log_level("error")
    model = llama_mtp.Model(str(tiny_mtp_model(kind=args.kind, acceptance=0.8)))
    controller = llama_mtp.DraftController(args.n_draft_max) if args.adaptive else None
    tokens, stats = mtp_loop(model, "Once upon a time,", args.tokens, args.n_draft_max, controller=controller)
    plain = llama_mtp.generate(model, "Once upon a time,", max_tokens=args.tokens, draft="none")
    assert isinstance(plain, llama_mtp.Generation)
    print(model.detokenize(tokens))
    print(f"same as plain greedy decoding: {tokens == plain.tokens}")
    print(
        f"acceptance per position: {[round(x, 2) for x in stats.acceptance_per_position]}, "
        f"mean acceptance length {stats.mean_acceptance_length:.2f}"
    )
    if controller is not None:
        print(f"draft lengths chosen: {controller.history.tolist()}")
        print(f"estimated acceptance per position: {controller.acceptance.round(2).tolist()}")


if __name__ == "__main__":
    main()
