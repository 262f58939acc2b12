"""The options of the notebook stripper: nbstripout's, as flags, config keys and a value.

:class:`StripOptions` is what :mod:`gitext.notebooks.strip` consumes; it checks itself
(mode, on-error, extra keys) when built. :func:`options_from_config` reads the ``nb.*``
keys of ``.archives/config`` / ``archives.nb.*``; :func:`with_flags` lays command-line flags
over configured options.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from gitext.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from gitext.config import Config

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
            namespace, dot, rest = key.partition(".")
            if not dot or not rest or namespace not in ("cell", "metadata"):
                raise StripOptionError(
                    f"extra key '{key}' must start with 'metadata.' or 'cell.'",
                    hint="e.g. metadata.kernelspec or cell.metadata.collapsed",
                )
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


def options_from_config(cfg: Config) -> StripOptions:
    """Build the options from the ``nb.*`` keys of ``.archives/config`` / ``archives.nb.*``.

    List-valued keys take space-separated words and may be given more than once.
    """
    try:
        return StripOptions(
            keep_output=cfg.get_bool("nb.keep-output"),
            keep_count=cfg.get_bool("nb.keep-count"),
            keep_id=cfg.get_bool("nb.keep-id"),
            extra_keys=_words(cfg.get_all("nb.extra-keys")),
            keep_metadata_keys=_words(cfg.get_all("nb.keep-metadata-keys")),
            drop_empty_cells=cfg.get_bool("nb.drop-empty-cells"),
            drop_tagged_cells=_words(cfg.get_all("nb.drop-tagged-cells")),
            strip_init_cells=cfg.get_bool("nb.strip-init-cells"),
            max_size=parse_max_size(cfg.get("nb.max-size") or "0", where="config nb.max-size"),
            keep_output_types=_words(cfg.get_all("nb.keep-output-type")),
            drop_output_types=_words(cfg.get_all("nb.drop-output-type")),
            mode=_choice(cfg, "nb.mode", ("auto", "jupyter", "zeppelin"), "auto"),  # type: ignore[arg-type]
            on_error=_choice(cfg, "nb.on-error", ("error", "passthrough"), "error"),  # type: ignore[arg-type]
        )
    except StripOptionError as exc:
        message = exc.message if exc.message.startswith("config") else f"config: {exc.message}"
        raise ConfigError(message, hint=exc.hint) from None


def _choice(cfg: Config, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = (cfg.get(key) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"config {key}: '{value}' is not one of {', '.join(allowed)}",
                          hint=f"set {key} to one of {', '.join(allowed)}")
    return value


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
