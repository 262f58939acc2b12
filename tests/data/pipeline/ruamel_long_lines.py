"""Run with a DVC install (ruamel.yaml 0.18 or later): write long-line lock-like documents and
the text ruamel.yaml dumps for each with DVC's writer settings, one JSON object a line.

Usage: python ruamel_long_lines.py ruamel_0_19_1_long_lines.jsonl (see README.md). Not a
test: it needs ruamel.yaml, which the test suite does not.
"""

from __future__ import annotations

import io
import json
import random
import sys
from typing import Any

RNG = random.Random(20261126)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-_./=$,é"


def dump(data: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def word() -> str:
    size = RNG.choice([1, 2, 3, 5, 8, 13, 21, 40, 90])
    return "".join(RNG.choice(ALPHABET) for _ in range(size))


def text() -> str:
    words = [word() for _ in range(RNG.randint(1, 14))]
    # Mostly single spaces, as in commands; now and then two (where ruamel 0.18 loses one).
    return "".join(w + ("  " if RNG.random() < 0.04 else " ") for w in words[:-1]) + words[-1]


def value(depth: int = 0) -> Any:
    roll = RNG.random()
    if depth > 2 or roll < 0.5:
        return text()
    if roll < 0.75:
        return [value(depth + 1) for _ in range(RNG.randint(1, 3))]
    return {word()[:12]: value(depth + 1) for _ in range(RNG.randint(1, 3))}


def main(target: str) -> None:
    with open(target, "w", encoding="utf-8") as out:
        for n in range(150):
            cmd = text() if RNG.random() < 0.6 else [text() for _ in range(RNG.randint(1, 3))]
            stage = {"cmd": cmd,
                     "deps": [{"path": text(), "hash": "md5", "md5": "0" * 32, "size": 1}],
                     "params": {"params.yaml": {word()[:10]: value()}}}
            doc = {"schema": "2.0", "stages": {f"s{n}": stage}}
            out.write(json.dumps({"data": doc, "text": dump(doc)}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
