"""Experiment names and the refs that hold experiments (the layout shared by ``exp run`` and
``exp show``/``apply``/``push``...; see docs/experiments-run.md "Where experiments live").

- finished: ``refs/exps/<B[:2]>/<B[2:]>/<NAME>`` (DVC's own layout, so ``dvc exp show`` sees it)
- failed:   ``refs/archives/exps/failed/<B[:2]>/<B[2:]>/<NAME>``
- queued:   ``refs/archives/exps/queue/<NAME>``

B is the full 40-hex sha of the experiment's baseline commit. A generated name is two short
words joined by ``-`` (like DVC's ``cased-hobs``), picked reproducibly from a seed (the
experiment commit's tree id).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from gitext.errors import UsageError

EXPS_PREFIX = "refs/exps/"
FAILED_PREFIX = "refs/archives/exps/failed/"
QUEUE_PREFIX = "refs/archives/exps/queue/"

_SHA = re.compile(r"[0-9a-f]{40}")

# Short, plain words; order matters (a generated name is reproducible from its seed).
ADJECTIVES: tuple[str, ...] = (
    "amber", "bald", "bland", "blond", "bold", "brisk", "calm", "cased", "chewy", "civic",
    "close", "cool", "coral", "crisp", "curly", "dense", "dewy", "dizzy", "dry", "dusky",
    "eager", "early", "even", "faint", "fancy", "fast", "fine", "firm", "flat", "fond",
    "fresh", "funny", "fuzzy", "gaunt", "giddy", "glad", "grand", "grey", "gusty", "hairy",
    "handy", "happy", "hardy", "hazel", "hefty", "hilly", "holy", "husky", "icy", "ideal",
    "inky", "jazzy", "jolly", "jumpy", "keen", "kind", "lanky", "large", "lazy", "leafy",
    "level", "light", "lined", "livid", "local", "lofty", "loose", "loud", "lucid", "lucky",
    "lumpy", "lusty", "mild", "minor", "misty", "modal", "moist", "mossy", "muddy", "murky",
    "naive", "natal", "neat", "noble", "north", "nosy", "oaken", "oaky", "odd", "olive",
    "pale", "peaty", "pert", "plain", "plump", "polar", "prime", "proud", "quick", "quiet",
    "rapid", "rare", "ready", "regal", "rich", "rigid", "ripe", "rocky", "rosy", "round",
    "royal", "ruddy", "rural", "rusty", "sandy", "sappy", "sharp", "shiny", "short", "silky",
    "slim", "sly", "smoky", "snowy", "soapy", "solid", "sound", "spicy", "stark", "steep",
    "stiff", "stony", "sunny", "sweet", "swift", "tame", "tangy", "tawny", "terse", "tidy",
    "tight", "timid", "tired", "topaz", "trim", "true", "vague", "valid", "vital", "vivid",
    "warm", "wary", "wavy", "whole", "wide", "windy", "wiry", "witty", "woody", "young",
)
NOUNS: tuple[str, ...] = (
    "acre", "alga", "ants", "apex", "arch", "aunt", "axis", "bank", "barn", "bead",
    "beam", "bear", "bell", "bird", "bite", "boar", "bolt", "bond", "bone", "boot",
    "bowl", "bulb", "cake", "calf", "camp", "cape", "card", "cart", "cave", "cell",
    "chip", "clam", "clay", "coat", "coin", "colt", "cone", "cord", "cove", "crab",
    "crow", "cube", "dale", "deer", "disk", "dock", "dove", "duck", "dune", "dusk",
    "elm", "epic", "fawn", "fern", "fig", "fish", "flax", "foal", "fork", "frog",
    "gale", "gate", "gear", "gull", "hare", "hawk", "herb", "hill", "hobs", "hood",
    "horn", "iris", "isle", "jamb", "jars", "kelp", "kiln", "kite", "knot", "lake",
    "lamb", "lark", "leaf", "lens", "lime", "link", "loom", "lynx", "mace", "malt",
    "mare", "mast", "meal", "mesa", "mill", "mint", "mole", "moss", "moth", "nest",
    "newt", "node", "oaks", "opal", "orca", "oven", "owl", "palm", "pear", "pier",
    "pine", "plum", "pond", "pony", "pool", "quay", "raft", "reed", "reef", "rook",
    "rope", "rose", "sage", "sail", "salt", "seal", "seed", "shed", "silo", "slab",
    "snow", "sole", "spur", "star", "stem", "swan", "tarn", "teal", "tide", "toad",
    "tuna", "vale", "vane", "vine", "wasp", "well", "whey", "wick", "wren", "yarn",
)


def _split(baseline: str) -> str:
    if not _SHA.fullmatch(baseline):
        raise ValueError(f"baseline must be a full 40-hex sha, got {baseline!r}")
    return f"{baseline[:2]}/{baseline[2:]}"


def exp_ref(baseline: str, name: str) -> str:
    """The ref of the finished experiment ``name`` run on ``baseline`` (a full sha)."""
    return f"{EXPS_PREFIX}{_split(baseline)}/{name}"


def failed_ref(baseline: str, name: str) -> str:
    """The ref of the failed experiment ``name`` run on ``baseline`` (a full sha)."""
    return f"{FAILED_PREFIX}{_split(baseline)}/{name}"


def queue_ref(name: str) -> str:
    """The ref of the queued (not yet run) experiment ``name``."""
    return f"{QUEUE_PREFIX}{name}"


def parse_ref(ref: str) -> tuple[str, str | None, str] | None:
    """``(status, baseline or None, name)`` for one of our experiment refs, else None.
    ``status`` is ``success``, ``failed`` or ``queued``."""
    for prefix, status in ((FAILED_PREFIX, "failed"), (EXPS_PREFIX, "success")):
        if ref.startswith(prefix):
            parts = ref[len(prefix):].split("/", 2)
            if len(parts) == 3 and _SHA.fullmatch(parts[0] + parts[1]) and parts[2]:
                return status, parts[0] + parts[1], parts[2]
            return None
    if ref.startswith(QUEUE_PREFIX) and len(ref) > len(QUEUE_PREFIX):
        return "queued", None, ref[len(QUEUE_PREFIX):]
    return None


_NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def validate_name(name: str) -> str:
    """``name`` if it makes a valid single ref component (what ``git check-ref-format``
    accepts, kept to one path segment of letters, digits, ``.``, ``_``, ``-``), else a
    UsageError naming the rule."""
    bad = (
        not _NAME_OK.fullmatch(name)
        or ".." in name
        or name.endswith((".", ".lock"))
        or len(name) > 200
    )
    if bad:
        raise UsageError(
            f"experiment name {name!r} is not allowed: use letters, digits, '.', '_' and '-'"
            " (starting with a letter or digit, no '..', not ending in '.' or '.lock')"
        )
    return name


def generate_name(seed: str, taken: Callable[[str], bool] = lambda _n: False) -> str:
    """A two-word name (``adjective-noun``) chosen from ``seed`` (e.g. a tree id), the same
    every time for the same seed; if ``taken(name)`` is true the next candidate is tried."""
    for attempt in range(10_000):
        digest = hashlib.sha256(f"{seed}\0{attempt}".encode()).digest()
        n = int.from_bytes(digest[:8], "big")
        name = f"{ADJECTIVES[n % len(ADJECTIVES)]}-{NOUNS[(n // len(ADJECTIVES)) % len(NOUNS)]}"
        if not taken(name):
            return name
    raise UsageError("could not find a free experiment name; pass one with -n/--name")
