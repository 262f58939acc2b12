"""One checked ``dvc.yaml`` document made into a :class:`~gitext.pipeline.model.Pipeline`.

* Variables come from ``params.yaml`` beside the ``dvc.yaml`` (if it exists), then the
  top-level ``vars`` (inline mappings, or files ``path[:key1,key2]``), then a stage's own
  ``vars``.
* ``foreach`` over a list of scalars names stages ``name@<value>``, over a list holding
  mappings or lists ``name@<index>``, over a mapping ``name@<key>`` (with ``${key}``);
  ``matrix`` names them ``name@<v1>-<v2>`` (``<axis><index>`` for a composite value).
* Every path (deps, outs, params files, ``wdir``) must stay inside the repository and out
  of its metadata; errors name ``file:line:column`` and the (generated) stage.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.errors import PipelineError
from gitext.fs.worktree import is_git_dir_name
from gitext.pipeline.dvcyaml.schema import HINT, Checker, context_prefix, describe
from gitext.pipeline.dvcyaml.templating import (
    Context,
    ParsingConfig,
    TemplateError,
    copy_data,
    resolve_data,
    to_str,
)
from gitext.pipeline.model import DEFAULT_PARAMS_FILE, Dep, Out, OutKind, ParamDep, Pipeline, Stage
from gitext.pipeline.yaml12 import Marks, YamlPath

if TYPE_CHECKING:
    from gitext.pipeline.parsecache import Sources



def _matrix_combos(axes: list[tuple[str, list[Any]]]) -> dict[str, dict[str, Any]]:
    """Every combination of the axes' values, by its key: the values joined by ``-``
    (``<axis><index>`` for a mapping or list value)."""
    combos: dict[str, dict[str, Any]] = {}
    for combo in product(*(list(enumerate(values)) for _, values in axes)):
        fragments = []
        item: dict[str, Any] = {}
        for (axis, _), (n, value) in zip(axes, combo, strict=True):
            item[axis] = value
            fragments.append(f"{axis}{n}" if isinstance(value, (dict, list)) else to_str(value))
        combos["-".join(fragments)] = item
    return combos


def _norm(*parts: str) -> str:
    joined = posixpath.normpath(posixpath.join(*parts)) if parts else "."
    return joined


def _inside(path: str) -> bool:
    return path != ".." and not path.startswith("../") and not posixpath.isabs(path)


_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


# --------------------------------------------------------------------------- loading


@dataclass
class DocumentLoader:
    root: Path
    file: Path
    display: str  # the dvc.yaml path shown in messages, relative to root
    base: str  # the dvc.yaml directory relative to root ("." at the root)
    marks: Marks
    parsing: ParsingConfig = field(default_factory=ParsingConfig)
    # The stage being built: names a generated stage ("train@1") in messages.
    current: str | None = None
    # Records every file read or checked, for the parse cache (gitext.pipeline.parsecache).
    sources: Sources | None = None

    def is_file(self, path: Path) -> bool:
        return path.is_file() if self.sources is None else self.sources.is_file(path)

    def fail(self, path: YamlPath, problem: str, *, hint: str = HINT) -> PipelineError:
        where = context_prefix(path, self.current)
        return PipelineError(f"{self.marks.value(path)}: {where}{problem}", hint=hint)

    # -- variables

    def load_vars_file(self, ctx: Context, item: str, wdir: str, path: YamlPath) -> None:
        from gitext.pipeline.params import parse_params

        file_part, _, keys_part = item.partition(":")
        keys = [key for key in keys_part.split(",") if key] if keys_part else None
        rel = _norm(wdir, file_part)
        if not _inside(rel):
            raise self.fail(path, f"vars file {file_part!r} is outside the repository")
        if rel in ctx.imports:
            before = ctx.imports[rel]
            if keys is None and before is None:
                return  # the same whole file again: DVC allows it
            if keys is None or before is None or set(keys) & set(before):
                raise self.fail(path, f"cannot load {item!r}: {file_part} is already loaded")
        full = self.root / rel
        if not self.is_file(full):
            raise self.fail(path, f"vars file {rel} does not exist")
        try:
            text = full.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(path, f"cannot read vars file {rel}: {exc}") from None
        data = parse_params(text, file=rel, suffix=full.suffix)
        if keys is not None:
            missing = [key for key in keys if key not in data]
            if missing:
                raise self.fail(path, f"could not find {missing[0]!r} in {rel}")
            data = {key: data[key] for key in keys}
        try:
            ctx.merge(data, f"'{rel}'")
        except TemplateError as exc:
            raise self.fail(path, str(exc)) from None
        previous = ctx.imports.get(rel)
        ctx.imports[rel] = None if keys is None else [*(previous or []), *keys]

    def load_vars(self, ctx: Context, items: list[Any], wdir: str, path: YamlPath) -> None:
        for n, item in enumerate(items):
            if isinstance(item, str):
                self.load_vars_file(ctx, item, wdir, (*path, n))
            else:
                try:
                    ctx.merge(item, f"'{'.'.join(str(p) for p in (*path, n))}'")
                except TemplateError as exc:
                    raise self.fail((*path, n), str(exc)) from None

    def global_context(self, data: dict[str, Any]) -> Context:
        ctx = Context(parsing=self.parsing)
        default = _norm(self.base, DEFAULT_PARAMS_FILE)
        if self.is_file(self.root / default):
            self.load_vars_file(ctx, DEFAULT_PARAMS_FILE, self.base, ())
        self.load_vars(ctx, data.get("vars") or [], self.base, ("vars",))
        return ctx

    def resolve(self, value: Any, ctx: Context, field_name: str | None, path: YamlPath) -> Any:
        try:
            return resolve_data(value, ctx, field_name, path)
        except TemplateError as exc:
            raise self.fail(exc.path if exc.path is not None else path, str(exc)) from None

    # -- stages

    def expand(
        self, name: str, body: dict[str, Any], ctx: Context
    ) -> Iterator[tuple[str, dict[str, Any], Context, YamlPath, str | None]]:
        """(generated name, stage body, context, raw path of the body, key) per stage."""
        if "foreach" in body:
            yield from self.expand_foreach(name, body, ctx)
        elif "matrix" in body:
            yield from self.expand_matrix(name, body, ctx)
        else:
            yield name, body, ctx, ("stages", name), None

    def expand_foreach(
        self, name: str, body: dict[str, Any], ctx: Context
    ) -> Iterator[tuple[str, dict[str, Any], Context, YamlPath, str | None]]:
        path: YamlPath = ("stages", name)
        items = self.resolve(body["foreach"], ctx, "foreach", (*path, "foreach"))
        if isinstance(items, dict):
            pairs = [(to_str(key), value) for key, value in items.items()]
            with_key = True
        elif isinstance(items, list):
            if any(isinstance(item, (dict, list)) for item in items):
                pairs = [(str(n), item) for n, item in enumerate(items)]
            else:
                pairs = [(to_str(item), item) for item in items]
            with_key = False
        else:
            raise self.fail(
                (*path, "foreach"),
                f"expected a list or mapping to iterate over, got {describe(items)}",
            )
        for key, value in dict(pairs).items():
            local = ctx.clone()
            local.data["item"] = copy_data(value)
            if with_key:
                local.data["key"] = key
            local.reserved = frozenset(("item", "key") if with_key else ("item",))
            yield f"{name}@{key}", body["do"], local, (*path, "do"), key

    def expand_matrix(
        self, name: str, body: dict[str, Any], ctx: Context
    ) -> Iterator[tuple[str, dict[str, Any], Context, YamlPath, str | None]]:
        path: YamlPath = ("stages", name)
        grid = self.resolve(body["matrix"], ctx, "foreach", (*path, "matrix"))
        axes: list[tuple[str, list[Any]]] = []
        for axis, values in grid.items():
            if not isinstance(values, list):
                raise self.fail(
                    (*path, "matrix", axis),
                    f"matrix axis {axis!r} must be a list, got {describe(values)}",
                )
            axes.append((axis, values))
        template = {key: value for key, value in body.items() if key != "matrix"}
        for key, item in _matrix_combos(axes).items():
            local = ctx.clone()
            local.data["item"] = copy_data(item)
            local.data["key"] = key
            local.reserved = frozenset(("item", "key"))
            yield f"{name}@{key}", template, local, path, key

    def build_stage(
        self,
        name: str,
        body: dict[str, Any],
        ctx: Context,
        path: YamlPath,
        *,
        group: str | None,
        key: str | None,
    ) -> Stage:
        wdir, repo_wdir = self.stage_wdir(body, ctx, path)
        if body.get("vars"):
            ctx = ctx.clone()
            self.load_vars(ctx, body["vars"], repo_wdir, (*path, "vars"))
        fields = {
            field_name: self.resolve(value, ctx, field_name, (*path, field_name))
            for field_name, value in body.items()
            if field_name not in ("vars", "wdir")
        }
        cmd = fields["cmd"]
        cmd_list = self.command(cmd, path)
        stage = Stage(
            name=name,
            cmd=list(cmd_list),
            cmd_is_list=isinstance(cmd, list),
            wdir=wdir,
            repo_wdir=repo_wdir,
            frozen=bool(fields.get("frozen", False)),
            always_changed=bool(fields.get("always_changed", False)),
            desc=fields.get("desc"),
            meta=fields.get("meta"),
            loc=self.marks.key(("stages", group if group is not None else name)),
            group=group,
            key=key,
        )
        for n, dep in enumerate(fields.get("deps") or []):
            stage.deps.append(
                Dep(dep, self.path_in_repo(dep, repo_wdir, (*path, "deps", n), "dependency"))
            )
        stage.params = self.params(fields.get("params") or [], repo_wdir, (*path, "params"))
        kind: OutKind
        for kind in ("outs", "metrics", "plots"):
            for n, item in enumerate(fields.get(kind) or []):
                stage.outs.extend(self.outputs(item, kind, repo_wdir, (*path, kind, n)))
        return stage

    def stage_wdir(self, body: dict[str, Any], ctx: Context, path: YamlPath) -> tuple[str, str]:
        """The stage's ``wdir`` as written (templated) and relative to the repository."""
        wdir_raw = body.get("wdir")
        wdir = "."
        if wdir_raw is not None:
            wdir = to_str(self.resolve(wdir_raw, ctx, "wdir", (*path, "wdir")))
            if not wdir:
                wdir = "."
        repo_wdir = _norm(self.base, wdir)
        if posixpath.isabs(wdir) or not _inside(repo_wdir):
            raise self.fail((*path, "wdir"), f"wdir {wdir!r} is outside the repository")
        return wdir, repo_wdir

    def command(self, cmd: Any, path: YamlPath) -> list[Any]:
        """The templated ``cmd`` as a list of strings (not all empty)."""
        cmd_list = cmd if isinstance(cmd, list) else [cmd]
        for n, part in enumerate(cmd_list):
            if not isinstance(part, str):
                raise self.fail(
                    (*path, "cmd", n) if isinstance(cmd, list) else (*path, "cmd"),
                    f"a command must be a string, got {describe(part)}",
                )
        if not any(part.strip() for part in cmd_list):
            raise self.fail((*path, "cmd"), "'cmd' is empty")
        return cmd_list

    def path_in_repo(self, written: Any, wdir: str, path: YamlPath, what: str) -> str:
        if not isinstance(written, str) or not written.strip():
            raise self.fail(path, f"expected a {what} path, got {describe(written)}")
        if _URL.match(written):
            raise self.fail(
                path, f"{what} {written!r} is a URL; only paths inside the repository are supported"
            )
        if posixpath.isabs(written) or _DRIVE.match(written):
            raise self.fail(
                path,
                f"{what} {written!r} is an absolute path; write it relative to the stage's wdir",
            )
        resolved = _norm(wdir, written)
        if not _inside(resolved):
            raise self.fail(path, f"{what} {written!r} is outside the repository")
        parts = resolved.split("/")
        if (resolved == "." or parts[0].casefold() in (".dvc", ".archives")
                or any(is_git_dir_name(p) for p in parts)):
            raise self.fail(path, f"{what} {written!r} names the repository itself or its metadata")
        return resolved

    def params(self, items: list[Any], wdir: str, path: YamlPath) -> list[ParamDep]:
        whole: set[str] = set()
        for item in items:
            if isinstance(item, dict):
                whole.update(name for name, keys in item.items() if not keys)
        merged: dict[str, list[str] | None] = {}
        for n, item in enumerate(items):
            where = (*path, n)
            if isinstance(item, str):
                if DEFAULT_PARAMS_FILE not in whole:
                    keys = merged.setdefault(DEFAULT_PARAMS_FILE, [])
                    assert keys is not None
                    keys.append(item)
                continue
            if not isinstance(item, dict):
                raise self.fail(where, f"expected a key or {{file: [keys]}}, got {describe(item)}")
            for file_name, keys in item.items():
                if not isinstance(file_name, str) or not file_name:
                    raise self.fail(where, "a params file name must be a string")
                if file_name in whole:
                    merged[file_name] = None
                    continue
                if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                    raise self.fail(
                        (*where, file_name),
                        f"expected a list of keys for params "
                        f"file {file_name!r}, got {describe(keys)}",
                    )
                existing = merged.setdefault(file_name, [])
                assert existing is not None
                existing.extend(keys)
        result: list[ParamDep] = []
        for file_name, keys in merged.items():
            repo_path = self.path_in_repo(file_name, wdir, path, "params file")
            unique = tuple(dict.fromkeys(keys)) if keys is not None else None
            result.append(ParamDep(file_name, repo_path, unique))
        return result

    def outputs(self, item: Any, kind: OutKind, wdir: str, path: YamlPath) -> list[Out]:
        what = {"outs": "output", "metrics": "metric", "plots": "plot"}[kind]
        if isinstance(item, str):
            return [Out(item, self.path_in_repo(item, wdir, path, what), kind=kind)]
        outs: list[Out] = []
        for written, opts in item.items():
            where = (*path, str(written))
            repo_path = self.path_in_repo(written, wdir, where, what)
            if isinstance(opts, list):
                outs.append(Out(written, repo_path, kind=kind, extra={"plot_props": opts}))
                continue
            extra = {k: v for k, v in opts.items() if k not in ("cache", "persist")}
            for flag in ("cache", "persist"):
                if flag in opts and not isinstance(opts[flag], bool):
                    raise self.fail((*where, flag), f"'{flag}' must be true or false")
            outs.append(
                Out(
                    written,
                    repo_path,
                    kind=kind,
                    cache=opts.get("cache", True),
                    persist=opts.get("persist", False),
                    extra=extra,
                )
            )
        return outs

    # -- top level

    def top_paths(self, items: list[Any], ctx: Context, key: str) -> list[str]:
        resolved = self.resolve(items, ctx, None, (key,))
        return [
            self.path_in_repo(item, self.base, (key, n), f"top-level {key} file")
            for n, item in enumerate(resolved)
        ]

    def load(self, data: Any) -> Pipeline:
        pipeline = Pipeline(file=self.file, root=self.root)
        if data is None:
            return pipeline
        Checker(self.marks).document(data)
        ctx = self.global_context(data)
        pipeline.vars = list(data.get("vars") or [])
        for name, body in (data.get("stages") or {}).items():
            for stage_name, stage_body, local, path, key in self.expand(name, body, ctx):
                if stage_name in pipeline.stages:
                    raise self.fail(path, f"stage {stage_name!r} is generated twice")
                group = name if key is not None else None
                self.current = stage_name
                pipeline.stages[stage_name] = self.build_stage(
                    stage_name, stage_body, local, path, group=group, key=key
                )
                self.current = None
        pipeline.metrics = self.top_paths(data.get("metrics") or [], ctx, "metrics")
        pipeline.params = self.top_paths(data.get("params") or [], ctx, "params")
        pipeline.plots = self.resolve(list(data.get("plots") or []), ctx, None, ("plots",))
        artifacts = {}
        for name, spec in (data.get("artifacts") or {}).items():
            where: YamlPath = ("artifacts", name)
            resolved_name = self.resolve(name, ctx, None, where)
            if not isinstance(resolved_name, str):
                raise self.fail(
                    where, f"an artifact name must be a string, got {describe(resolved_name)}"
                )
            artifacts[resolved_name] = self.resolve(spec, ctx, None, where)
        pipeline.artifacts = artifacts
        return pipeline
