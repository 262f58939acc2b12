"""The options of the notebook stripper: nbstripout's, as flags, config keys and a value.

:class:`StripOptions` is what :mod:`gitext.notebooks.strip` consumes; it checks itself
(mode, on-error, extra keys) when built. :func:`options_from_config` reads the ``nb.*``
keys of ``.archives/config`` / ``archives.nb.*``; :func:`with_flags` lays command-line flags
over configured options.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from gitext.codec.shellquote import display
from gitext.config import Config
from gitext.errors import ConfigError, UsageError
from gitext.git.repo import run_git

NOTEBOOK_SUFFIXES = (".ipynb", ".zpln")  # what is stripped without being forced

Mode = Literal["auto", "jupyter", "zeppelin"]
OnError = Literal["error", "passthrough"]

# What nbstripout strips besides outputs and counts, unless named in keep-metadata-keys.
DEFAULT_EXTRA_KEYS: tuple[str, ...] = (
    "metadata.signature",
    "metadata.widgets",
    "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime",
    "cell.metadata.execution",
    "cell.metadata.heading_collapsed",
    "cell.metadata.hidden",
    "cell.metadata.scrolled",
)



class StripOptionError(UsageError):
    """A strip option that cannot be honoured (e.g. an extra key outside cell./metadata.)."""


@dataclass(frozen=True)
class StripOptions:
    """Every nbstripout option; the defaults strip exactly what nbstripout strips.

    ``keep_output`` False still honours a notebook's own ``metadata.keep_output``; per-cell
    ``keep_output`` metadata or tag and ``init_cell`` metadata are always honoured.
    """

    keep_output: bool = False
    keep_count: bool = False
    keep_id: bool = False
    extra_keys: tuple[str, ...] = ()
    keep_metadata_keys: tuple[str, ...] = ()
    drop_empty_cells: bool = False
    drop_tagged_cells: tuple[str, ...] = ()
    strip_init_cells: bool = False
    max_size: int = 0
    keep_output_types: tuple[str, ...] = ()
    drop_output_types: tuple[str, ...] = ()
    mode: Mode = "auto"
    on_error: OnError = "error"
    # Derived: the notebook-level and cell-level keys to pop, split once.
    _nb_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _cell_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "jupyter", "zeppelin"):
            raise StripOptionError(f"unknown notebook mode '{self.mode}'",
                                   hint="use auto, jupyter or zeppelin")
        if self.on_error not in ("error", "passthrough"):
            raise StripOptionError(f"unknown on-error action '{self.on_error}'",
                                   hint="use error or passthrough")
        if self.max_size < 0:
            raise StripOptionError("max-size cannot be negative")
        nb_keys: list[str] = []
        cell_keys: list[str] = []
        for key in (*DEFAULT_EXTRA_KEYS, *self.extra_keys):
            if key in self.keep_metadata_keys:
                continue
            why = extra_key_problem(key)
            if why is not None:
                raise StripOptionError(why, hint="e.g. metadata.kernelspec or "
                                       "cell.metadata.collapsed")
            namespace, _, rest = key.partition(".")
            (nb_keys if namespace == "metadata" else cell_keys).append(rest)
        object.__setattr__(self, "_nb_keys", tuple(nb_keys))
        object.__setattr__(self, "_cell_keys", tuple(cell_keys))


# ---------------------------------------------------------------------------- options

def _words(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(w for v in values for w in v.split())


def parse_max_size(text: str, *, where: str = "max-size") -> int:
    """nbstripout's sizes: a count of characters with an optional k/m/g (powers of 1000)."""
    raw = text.strip()
    mult = {"k": 10**3, "m": 10**6, "g": 10**9}.get(raw[-1:].lower(), 1)
    num = raw[:-1] if mult != 1 else raw
    if not (num.isascii() and num.isdigit()):
        raise StripOptionError(f"{where}: '{text}' is not a size",
                               hint="write a number with an optional k, m or g, e.g. 50 or 10k")
    return int(num) * mult


def extra_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an extra key (None when it can): nbstripout's rule."""
    namespace, dot, rest = key.partition(".")
    if not dot or not rest or namespace not in ("cell", "metadata"):
        return f"extra key '{key}' must start with 'metadata.' or 'cell.'"
    return None


@dataclass(frozen=True)
class OptionProblem:
    """One ``nb.*`` value that cannot be honoured, and what is done instead."""

    key: str  # e.g. "nb.extra-keys"
    message: str  # e.g. "extra key 'kernelspec' must start with 'metadata.' or 'cell.'"
    instead: str  # e.g. "ignored" or "using auto"


def read_options(cfg: Config) -> tuple[StripOptions, list[OptionProblem]]:
    """The options of the ``nb.*`` keys of ``.archives/config`` / ``archives.nb.*``, and the
    values that cannot be honoured. Each of those is left out — the option keeps its
    default; a bad extra key is dropped alone, as nbstripout does — and the rest apply.

    List-valued keys take space-separated words and may be given more than once.
    """
    problems: list[OptionProblem] = []

    def flag(key: str) -> bool:
        try:
            return cfg.get_bool(key)
        except ConfigError as exc:
            why = exc.message.removeprefix(f"config {key} = ")
            problems.append(OptionProblem(key, why, "using false"))
            return False

    def extra_keys() -> tuple[str, ...]:
        good = []
        for word in _words(cfg.get_all("nb.extra-keys")):
            why = extra_key_problem(word)
            if why is None:
                good.append(word)
            else:
                problems.append(OptionProblem("nb.extra-keys", why,
                                              "ignored (e.g. metadata.kernelspec)"))
        return tuple(good)

    def choice(key: str, allowed: tuple[str, ...]) -> Any:
        value = (cfg.get(key) or allowed[0]).strip().lower()
        if value in allowed:
            return value
        problems.append(OptionProblem(key, f"'{value}' is not one of {', '.join(allowed)}",
                                      f"using {allowed[0]}"))
        return allowed[0]

    try:
        max_size = parse_max_size(cfg.get("nb.max-size") or "0", where="nb.max-size")
    except StripOptionError as exc:
        problems.append(OptionProblem("nb.max-size", exc.message.removeprefix("nb.max-size: "),
                                      "no size limit"))
        max_size = 0
    options = StripOptions(
        keep_output=flag("nb.keep-output"), keep_count=flag("nb.keep-count"),
        keep_id=flag("nb.keep-id"), extra_keys=extra_keys(),
        keep_metadata_keys=_words(cfg.get_all("nb.keep-metadata-keys")),
        drop_empty_cells=flag("nb.drop-empty-cells"),
        drop_tagged_cells=_words(cfg.get_all("nb.drop-tagged-cells")),
        strip_init_cells=flag("nb.strip-init-cells"), max_size=max_size,
        keep_output_types=_words(cfg.get_all("nb.keep-output-type")),
        drop_output_types=_words(cfg.get_all("nb.drop-output-type")),
        mode=choice("nb.mode", ("auto", "jupyter", "zeppelin")),
        on_error=choice("nb.on-error", ("error", "passthrough")),
    )
    return options, problems


def options_from_config(cfg: Config) -> StripOptions:
    """:func:`read_options`, strict: the first value that cannot be honoured is a
    :class:`ConfigError` (for the commands asked to strip with the configured options)."""
    options, problems = read_options(cfg)
    if problems:
        first = problems[0]
        raise ConfigError(f"config {first.key}: {first.message}",
                          hint=f"fix {first.key} in .archives/config (or archives.{first.key} "
                               "in git config)")
    return options


def config_origins(prefix: str, cwd: Path | None) -> dict[str, str]:
    """The file each git config key under ``prefix`` (e.g. ``archives.nb.``) last came from,
    in one ``git config --show-origin`` call: key -> file (``.git/config``, ``~/.gitconfig``…)."""
    pattern = "^" + prefix.replace(".", r"\.")
    proc = run_git(["config", "--show-origin", "-z", "--get-regexp", pattern], cwd=cwd,
                   check=False)
    fields = proc.stdout.split(b"\0")
    origins: dict[str, str] = {}
    for origin, entry in zip(fields[0::2], fields[1::2], strict=False):
        key = entry.partition(b"\n")[0].decode("utf-8", "surrogateescape").lower()
        kind, _, where = origin.decode("utf-8", "surrogateescape").partition(":")
        origins[key] = where if kind == "file" else f"{kind} {where}".strip()
    return origins


def problem_lines(problems: Sequence[OptionProblem], cfg: Config, cwd: Path | None,
                  ) -> list[str]:
    """One line per problem naming the file the key came from, the key and what is done
    (``.archives/config: nb.extra-keys: extra key 'kernelspec' must start with …``)."""
    local = [p for p in problems if cfg.is_local(p.key)]
    origins = config_origins("archives.nb.", cwd) if local else {}
    lines = []
    for p in problems:
        if p in local:
            name = f"archives.{p.key}"
            where = display(origins.get(name, "git config"))
        else:
            name, where = p.key, ".archives/config"
        lines.append(f"{where}: {name}: {p.message}; {p.instead}")
    return lines


def configured_options(root: Path | None) -> tuple[StripOptions, list[str]]:
    """The clone's strip options (``root``'s committed file, the git config) and one line per
    value left out (:func:`problem_lines`): whoever strips goes on with the rest."""
    cfg = Config.load(root)
    options, problems = read_options(cfg)
    return options, problem_lines(problems, cfg, root) if problems else []


def with_flags(base: StripOptions, *, keep_output: bool | None, keep_count: bool | None,
               keep_id: bool | None, extra_keys: Sequence[str],
               keep_metadata_keys: Sequence[str], drop_empty_cells: bool | None,
               drop_tagged_cells: Sequence[str], strip_init_cells: bool | None,
               max_size: str | None, keep_output_types: Sequence[str],
               drop_output_types: Sequence[str], mode: str | None,
               on_error: str | None) -> StripOptions:
    """Flags over ``base``: a flag given (not None) wins, list flags add to the lists."""
    changes: dict[str, Any] = {
        "extra_keys": base.extra_keys + _words(extra_keys),
        "keep_metadata_keys": base.keep_metadata_keys + _words(keep_metadata_keys),
        "drop_tagged_cells": base.drop_tagged_cells + _words(drop_tagged_cells),
        "keep_output_types": base.keep_output_types + _words(keep_output_types),
        "drop_output_types": base.drop_output_types + _words(drop_output_types),
    }
    for key, flag in (("keep_output", keep_output), ("keep_count", keep_count),
                      ("keep_id", keep_id), ("drop_empty_cells", drop_empty_cells),
                      ("strip_init_cells", strip_init_cells), ("mode", mode),
                      ("on_error", on_error)):
        if flag is not None:
            changes[key] = flag
    if max_size is not None:
        changes["max_size"] = parse_max_size(max_size)
    return replace(base, **changes)  # dataclasses.replace: a new StripOptions
