"""CLI of ``generate``, ``score`` and ``summary``: the commands that make and inspect a
rollout table. Settings are range-checked before torch is imported."""

from __future__ import annotations

import argparse

from entropy_lens.cli.flags import add_config_flags, config_from_args
from entropy_lens.measure.config import GenerateConfig, ScoreConfig

COMMANDS = ("generate", "score", "summary")

EPILOG_ROLLOUTS = (
    "Output: a directory of Parquet shards that pandas.read_parquet(OUT) reads as one table "
    "(one row per response: prompt_id, sample_id, prompt, prompt_token_ids, response, token_ids, "
    "offsets, entropy, logprob, answer, extracted, correct, finish_reason; with --backend vllm also engine_logprob) "
    "and OUT/_run.json with "
    "the settings. Rerunning the same command resumes; other settings into the same OUT are refused."
)


def add_parsers(sub) -> None:
    gen = sub.add_parser("generate", help="sample responses to a task set, recording per-token entropy",
                         description="Sample --n responses per problem (batched, HF transformers or vLLM) and record, for "
                                     "every response token, the raw policy's exact entropy and the token's log-prob "
                                     "(with --backend vllm, from a teacher-forced pass over vLLM's tokens).",
                         epilog=EPILOG_ROLLOUTS)
    gen.add_argument("--out", required=True, metavar="DIR", help="rollout directory to write (new, empty, or the same run to resume)")
    add_config_flags(gen, GenerateConfig)

    sc = sub.add_parser("score", help="teacher-forced entropy of existing prompt/response pairs",
                        description="Score existing responses without regenerating: teacher-forced entropy and "
                                    "log-prob of every response token under --model.",
                        epilog=EPILOG_ROLLOUTS)
    sc.add_argument("--out", required=True, metavar="DIR", help="rollout directory to write (new, empty, or the same run to resume)")
    add_config_flags(sc, ScoreConfig, required=("input",))

    summary = sub.add_parser("summary", help="print what a rollout table holds: accuracy, entropy, top tokens",
                             description="Summarise a rollout directory: counts, accuracy and mean entropy with 95% "
                                         "confidence intervals, truncated responses, entropy quantiles, the highest-"
                                         "entropy tokens and one response with its highest-entropy tokens marked.")
    summary.add_argument("rollouts", metavar="DIR", help="rollout directory (the --out of generate or score) or one of its .parquet shards")
    summary.add_argument("--min-count", type=int, default=5, metavar="N",
                         help="only list tokens seen at least N times (default: 5)")


def _one_line(frame) -> str:
    import numpy as np

    tokens = int(frame["token_ids"].map(len).sum())
    entropies = np.concatenate([np.asarray(e, dtype=np.float64) for e in frame["entropy"]]) if tokens else np.zeros(0)
    graded = frame["correct"].dropna()
    parts = [f"{len(frame)} responses", f"{frame['prompt_id'].nunique()} prompts", f"{tokens} tokens",
             f"mean entropy {entropies.mean():.3f} nats" if tokens else "no tokens"]
    if len(graded):
        parts.append(f"accuracy {graded.astype(bool).mean():.1%} of {len(graded)}")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> str:
    if args.command == "summary":
        from entropy_lens.analyses.summary import format_summary
        from entropy_lens.rollouts.load import read_rollouts

        return format_summary(read_rollouts(args.rollouts), min_count=args.min_count)
    if args.command == "generate":
        config = config_from_args(GenerateConfig, args)
        config.validate()
        from entropy_lens.measure.generate import run_generate

        frame = run_generate(config, args.out)
    else:
        config = config_from_args(ScoreConfig, args)
        config.validate()
        from entropy_lens.measure.score import run_score

        frame = run_score(config, args.out)
    return f"{args.out}: {_one_line(frame)}"
