"""Validate every bundle of the labeled corpus and of the corpora nested in it:
`python scripts/validate_corpus.py [labeled_incidents]`."""

from __future__ import annotations

import sys
from pathlib import Path

from rca.contract import load_label, validate_bundle
from rca.corpus import materialize, read_manifest, sha256_of, training_corpora


def main(corpus: str = "labeled_incidents") -> int:
    bad = 0
    entries = [e for d in training_corpora(Path(corpus)) for e in read_manifest(materialize(d))]
    for entry in entries:
        problems = [str(p) for p in validate_bundle(entry.path)]
        if sha256_of(entry.path) != entry.sha256:
            problems.append("sha256 differs from the manifest")
        label = load_label(entry.path)
        if tuple(c.node for c in label.causes) != entry.nodes:
            problems.append("label nodes differ from the manifest")
        for p in problems:
            print(f"{entry.id}: {p}")
        bad += bool(problems)
    print(f"{len(entries) - bad}/{len(entries)} incidents valid")
    return 1 if bad or not entries else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
