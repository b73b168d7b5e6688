"""``fraudops stream``: keep Redis profiles current from a stream of transactions and labels."""

from __future__ import annotations

import argparse
import json
import sys

from beam_pipelines.options import add_runner_arguments, is_dask, pipeline_options
from fraudops.profile_store.commands import StoreConfig
from fraudops.settings import CoreSettings

PASSTHROUGH = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--subscription", help="Pub/Sub subscription (streaming)")
    src.add_argument("--input", help="JSON-lines file of messages (bounded, local)")
    p.add_argument("--features-out", help="where to write the features each payment saw")
    p.add_argument("--redis-url", help="default: REDIS_URL")
    p.add_argument("--window-seconds", type=int, default=60)
    add_runner_arguments(p)


def run(args: argparse.Namespace) -> int:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    from beam_pipelines.streaming import build_streaming_pipeline

    if is_dask(args):  # windows, triggers and unbounded sources: batch pipelines only
        print(
            "fraudops stream: --runner dask runs the batch pipelines only (backfill, dataset "
            "build); stream on the DirectRunner or a streaming runner",
            file=sys.stderr,
        )
        return 2
    settings = CoreSettings()
    config = StoreConfig.from_settings(settings)
    options = pipeline_options(args, args.passthrough)
    options.view_as(StandardOptions).streaming = bool(args.subscription)
    with beam.Pipeline(options=options) as p:
        if args.subscription:
            messages = p | "Read" >> beam.io.ReadFromPubSub(subscription=args.subscription)
        else:
            messages = p | "Read" >> beam.io.ReadFromText(args.input)
        out = build_streaming_pipeline(messages, args.redis_url or settings.redis_url, config,
                                       args.window_seconds, settings.redis_cluster)  # fmt: skip
        if args.features_out:
            _ = (
                out["features"]
                | "ToJson" >> beam.Map(json.dumps)
                | "Write" >> beam.io.WriteToText(args.features_out, file_name_suffix=".jsonl")
            )
        _ = out["counts"] | "Log" >> beam.Map(lambda c: print(f"window {c[0]}: {c[1]} events"))
    return 0
