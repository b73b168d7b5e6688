"""Apache Beam pipelines: profile backfill, point-in-time datasets, streaming. Depend on core.

Importing Beam without its ``[gcp]`` extra (kept out of the default install) logs "apitools not
found, and bigquery client libraries are not available ..." on the root logger from
``apache_beam.io.gcp``; every module here imports Beam after this package, so the filter below
drops exactly that record, before Beam is first imported. Other warnings pass.
"""

from __future__ import annotations

import logging

APITOOLS_NOTICE = "apitools not found, and bigquery client libraries are not available"


def _not_the_apitools_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(APITOOLS_NOTICE)


logging.getLogger().addFilter(_not_the_apitools_notice)
