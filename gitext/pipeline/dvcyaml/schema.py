"""The ``dvc.yaml`` schema, checked on the raw (untemplated) document as DVC checks it.

Only string fields can hold ``${...}``; an unknown key or a value of the wrong type is an
error naming ``file:line:column`` and the stage (:class:`Checker`). :func:`describe` and
:func:`context_prefix` word the values and places of every ``dvc.yaml`` message.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any

from gitext.errors import PipelineError
from gitext.pipeline.dvcyaml.templating import TEMPLATE
from gitext.pipeline.yaml12 import Marks, YamlPath

HINT = "see docs/dvc-yaml.md for the dvc.yaml format"

_ANY = object()
_STR_LIST = ("list", str)

_ANNOTATION: dict[str, Any] = {"desc": str, "type": str, "labels": _STR_LIST, "meta": _ANY}
_OUT_OPTIONS: dict[str, Any] = {
    **_ANNOTATION,
    "cache": bool,
    "persist": bool,
    "checkpoint": bool,
    "remote": str,
    "push": bool,
}
_PLOT_OPTIONS: dict[str, Any] = {
    **_OUT_OPTIONS,
    "template": str,
    "x": str,
    "y": str,
    "x_label": str,
    "y_label": str,
    "title": str,
    "header": bool,
}
_TOP_PLOT_OPTIONS: dict[str, Any] = {
    "x": (str, dict),
    "y": (str, list, dict),
    "x_label": str,
    "y_label": str,
    "title": str,
    "template": str,
}
_STAGE_KEYS = (
    "cmd",
    "wdir",
    "deps",
    "params",
    "vars",
    "frozen",
    "meta",
    "desc",
    "always_changed",
    "outs",
    "metrics",
    "plots",
)
_TOP_KEYS = ("stages", "vars", "params", "metrics", "plots", "artifacts", "datasets")
_TYPE_NAMES = {str: "a string", bool: "true or false", list: "a list", dict: "a mapping"}


class Checker:
    """Schema checks on the raw (untemplated) document, with locations."""

    def __init__(self, marks: Marks) -> None:
        self.marks = marks

    def fail(
        self, path: YamlPath, problem: str, *, key: bool = False, where: YamlPath | None = None
    ) -> PipelineError:
        loc = self.marks.key(path) if key else self.marks.value(path)
        return PipelineError(f"{loc}: {context_prefix(path if where is None else where)}{problem}",
                             hint=HINT)

    def expect(self, value: Any, kind: Any, path: YamlPath) -> None:
        kinds = kind if isinstance(kind, tuple) and kind[0] != "list" else (kind,)
        for one in kinds:
            if one is _ANY:
                return
            if one is bool and isinstance(value, bool):
                return
            if one is str and isinstance(value, str):
                return
            if one in (list, dict) and isinstance(value, one):
                return
            if isinstance(one, tuple) and one[0] == "list" and isinstance(value, list):
                for n, item in enumerate(value):
                    self.expect(item, one[1], (*path, n))
                return
        wanted = " or ".join(
            "a list of strings" if isinstance(one, tuple) else _TYPE_NAMES.get(one, str(one))
            for one in kinds
        )
        raise self.fail(path, f"expected {wanted}, got {describe(value)}")

    def keys(
        self,
        data: dict[Any, Any],
        allowed: Mapping[str, Any] | tuple[str, ...],
        path: YamlPath,
        what: str,
    ) -> None:
        for key in data:
            if not isinstance(key, str) or key not in allowed:
                close = get_close_matches(str(key), list(allowed), n=1, cutoff=0.7)
                guess = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail(
                    (*path, str(key)),
                    f"unknown key {key!r} in {what}{guess}; allowed: {', '.join(allowed)}",
                    key=True,
                    where=path,  # the message names the key already
                )

    def options(self, data: Any, schema: Mapping[str, Any], path: YamlPath, what: str) -> None:
        if not isinstance(data, dict):
            raise self.fail(path, f"expected a mapping of {what} options, got {describe(data)}")
        self.keys(data, schema, path, what)
        for key, value in data.items():
            self.expect(value, schema[key], (*path, key))

    def outputs(self, data: Any, path: YamlPath, plots: bool) -> None:
        self.expect(data, list, path)
        schema = _PLOT_OPTIONS if plots else _OUT_OPTIONS
        for n, item in enumerate(data):
            where = (*path, n)
            if isinstance(item, str):
                continue
            if not isinstance(item, dict) or not item:
                raise self.fail(
                    where, f"expected a path or {{path: options}}, got {describe(item)}"
                )
            for out_path, opts in item.items():
                if not isinstance(out_path, str):
                    raise self.fail((*where, str(out_path)), "a path must be a string", key=True)
                if plots and isinstance(opts, list):
                    for m, one in enumerate(opts):
                        self.options(one, schema, (*where, out_path, m), "plot")
                else:
                    self.options(opts, schema, (*where, out_path), "plot" if plots else "output")

    def vars(self, data: Any, path: YamlPath) -> None:
        self.expect(data, list, path)
        for n, item in enumerate(data):
            self.expect(item, (str, dict), (*path, n))
            _no_templates(self, item, (*path, n), "vars")

    def stage_body(self, data: dict[Any, Any], path: YamlPath, *, matrix: bool) -> None:
        allowed = (*_STAGE_KEYS, "matrix") if matrix else _STAGE_KEYS
        self.keys(data, allowed, path, "a stage")
        if "cmd" not in data:
            raise self.fail(path, "missing required key 'cmd'")
        self.expect(data["cmd"], (str, list), (*path, "cmd"))
        if isinstance(data["cmd"], list):
            for n, part in enumerate(data["cmd"]):
                self.expect(part, str, (*path, "cmd", n))
        simple = {
            "wdir": str,
            "deps": _STR_LIST,
            "frozen": bool,
            "meta": _ANY,
            "desc": str,
            "always_changed": bool,
        }
        for key, kind in simple.items():
            if key in data:
                self.expect(data[key], kind, (*path, key))
        if "params" in data:
            self.expect(data["params"], list, (*path, "params"))
            for n, item in enumerate(data["params"]):
                self.expect(item, (str, dict), (*path, "params", n))
        if "vars" in data:
            self.vars(data["vars"], (*path, "vars"))
        for key in ("outs", "metrics", "plots"):
            if key in data:
                self.outputs(data[key], (*path, key), plots=key == "plots")
        if matrix:
            self.matrix(data["matrix"], (*path, "matrix"))

    def matrix(self, grid: Any, path: YamlPath) -> None:
        if not isinstance(grid, dict) or not grid:
            raise self.fail(path, "expected a mapping of axis: list")
        for axis, values in grid.items():
            if not isinstance(axis, str):
                raise self.fail((*path, str(axis)), "axis names must be strings")
            self.expect(values, (str, list), (*path, axis))

    def stage(self, name: Any, data: Any, path: YamlPath) -> None:
        if not isinstance(name, str) or not name:
            raise self.fail(path, "stage names must be non-empty strings", key=True)
        if "@" in name or ":" in name or "/" in name:
            raise self.fail(
                path, f"invalid stage name {name!r}: '@', ':' and '/' are not allowed", key=True
            )
        if not isinstance(data, dict):
            raise self.fail(path, f"a stage must be a mapping, got {describe(data)}")
        if "foreach" in data or "do" in data:
            self.keys(data, ("foreach", "do"), path, "a foreach stage")
            for key in ("foreach", "do"):
                if key not in data:
                    raise self.fail(path, f"missing required key '{key}' in a foreach stage")
            self.expect(data["foreach"], (dict, list, str), (*path, "foreach"))
            body = data["do"]
            if not isinstance(body, dict):
                raise self.fail((*path, "do"), f"expected a stage mapping, got {describe(body)}")
            self.stage_body(body, (*path, "do"), matrix=False)
        else:
            self.stage_body(data, path, matrix="matrix" in data)

    def top_plots(self, plots: Any) -> None:
        self.expect(plots, list, ("plots",))
        for n, item in enumerate(plots):
            if isinstance(item, str):
                continue
            if not isinstance(item, dict) or not item:
                raise self.fail(
                    ("plots", n), f"expected a path or {{id: options}}, got {describe(item)}"
                )
            for plot_id, opts in item.items():
                if opts is not None:
                    self.options(opts, _TOP_PLOT_OPTIONS, ("plots", n, str(plot_id)), "plot")

    def artifacts(self, artifacts: Any) -> None:
        if not isinstance(artifacts, dict):
            raise self.fail(("artifacts",), f"expected a mapping, got {describe(artifacts)}")
        for name, spec in artifacts.items():
            where: YamlPath = ("artifacts", str(name))
            self.options(spec, {"path": str, **_ANNOTATION}, where, "artifact")
            if "path" not in spec:
                raise self.fail(where, "missing required key 'path' in an artifact")

    def document(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise self.fail((), f"expected a mapping at the top level, got {describe(data)}")
        self.keys(data, _TOP_KEYS, (), "dvc.yaml")
        stages = data.get("stages")
        if stages is not None:
            if not isinstance(stages, dict):
                raise self.fail(
                    ("stages",), f"expected a mapping of stages, got {describe(stages)}"
                )
            for name, body in stages.items():
                self.stage(name, body, ("stages", str(name)))
        for key in ("params", "metrics"):
            if key in data:
                self.expect(data[key], _STR_LIST, (key,))
        if "vars" in data:
            self.vars(data["vars"], ("vars",))
        if "plots" in data:
            self.top_plots(data["plots"])
        if "artifacts" in data:
            self.artifacts(data["artifacts"])
        if "datasets" in data:
            self.expect(data["datasets"], list, ("datasets",))


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a bool ({'true' if value else 'false'})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def context_prefix(path: YamlPath, stage: str | None = None) -> str:
    if len(path) >= 2 and path[0] == "stages":
        rest = ".".join(str(part) for part in path[2:])
        return f"stage '{stage or path[1]}'" + (f", {rest}" if rest else "") + ": "
    if path:
        return ".".join(str(part) for part in path) + ": "
    return ""


def _no_templates(checker: Checker, data: Any, path: YamlPath, what: str) -> None:
    if isinstance(data, str):
        if TEMPLATE.search(data):
            raise checker.fail(path, f"interpolation (${{...}}) is not allowed in {what}")
    elif isinstance(data, dict):
        for key, value in data.items():
            _no_templates(checker, key, path, what)
            _no_templates(checker, value, (*path, str(key)), what)
    elif isinstance(data, list):
        for n, item in enumerate(data):
            _no_templates(checker, item, (*path, n), what)
