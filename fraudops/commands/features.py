"""``fraudops features``: the feature contract as a table (or JSON for tools)."""

from __future__ import annotations

import argparse
import json

from fraudops.features import FEATURE_SET_VERSION, FINGERPRINT, SPECS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    rows = [
        {
            "name": s.name,
            "entity": s.entity,
            "kind": s.kind,
            "window": s.window,
            "default": s.default,
            "meaning": s.doc,
        }
        for s in SPECS
    ]
    if args.json:
        doc = {"feature_set_version": FEATURE_SET_VERSION, "fingerprint": FINGERPRINT}
        print(json.dumps({**doc, "features": rows}, indent=2))
        return 0
    print(f"feature set v{FEATURE_SET_VERSION} ({FINGERPRINT}), {len(rows)} features")
    for i, r in enumerate(rows, 1):
        print(f"{i:>2}. {r['name']:<32} {r['entity']:<11} {r['window']:<36} {r['meaning']}")
    return 0
