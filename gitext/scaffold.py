"""``git archives init [--template NAME]``: what a project needs, created once.

Without a template: ``.archives/config`` (the committed project configuration). With
``ml``: the ML repository layout (``data/raw|processed|external``, ``models``,
``src/{data,features,models,evaluate}``, ``notebooks``, ``metrics``, ``plots``, ``tests``,
each empty folder with a ``.gitkeep``), ``params.yaml``, a commented ``dvc.yaml`` with
no stages, ``notebooks/jupytext.toml``, a ``.gitignore``, and ``.gitattributes`` rules
storing ``data/**`` and ``models/**`` as pointers and stripping ``*.ipynb``. The caller then runs
what ``git archives install`` runs.

An existing file is never overwritten. ``.gitignore`` gets only its missing lines, under a
comment; ``.gitattributes`` gets only its missing rules, through the writer ``track`` uses
(:mod:`gitext.git.attributes`). Everything in the way (a file where a folder goes, a folder
where a file goes, a symlink) is found before anything is written. Templates are package
data under ``gitext/templates/``.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from gitext.codec.shellquote import display, shell_arg
from gitext.config import PROJECT_CONFIG
from gitext.errors import UsageError
from gitext.fs.worktree import WorkTree
from gitext.git import attributes
from gitext.git.install import NB_ATTRIBUTES
from gitext.git.repo import run_git

TEMPLATES = {"ml": "the ML project layout: data/, models/, src/, notebooks/, metrics/, "
                   "plots/, tests/, params.yaml, dvc.yaml, notebooks/jupytext.toml"}

ML_FOLDERS = ("data/raw", "data/processed", "data/external", "models", "src/data",
              "src/features", "src/models", "src/evaluate", "notebooks", "metrics", "plots",
              "tests")
# repository path -> template file (package data)
ML_FILES = {"params.yaml": "ml/params.yaml.tmpl", "dvc.yaml": "ml/dvc.yaml.tmpl",
            "notebooks/jupytext.toml": "ml/jupytext.toml.tmpl"}
POINTER_PATTERNS = ("data/**", "models/**")
GITIGNORE = ".gitignore"
GITATTRIBUTES = ".gitattributes"
KEEP = ".gitkeep"


@dataclass
class ScaffoldReport:
    created: list[str] = field(default_factory=list)  # repository paths, in order
    kept: list[str] = field(default_factory=list)  # existing files left as they were
    added: list[str] = field(default_factory=list)  # "FILE: what was appended"
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.added)


def check_template(name: str | None) -> None:
    if name is not None and name not in TEMPLATES:
        raise UsageError(f"unknown template '{display(name)}': the templates are "
                         f"{', '.join(sorted(TEMPLATES))}")


def _template(name: str) -> bytes:
    return resources.files("gitext.templates").joinpath(name).read_bytes()


def scaffold(root: Path, template: str | None, *, driver: str = "archives",
             command: str = "git archives init") -> ScaffoldReport:
    """Create what ``template`` (None: the bare project) needs under the work tree
    ``root``; return what was created, appended and kept. ``driver`` is the filter driver
    of the tracking rules (:func:`gitext.config.track_driver`)."""
    check_template(template)
    files = {PROJECT_CONFIG.as_posix(): "bare/config.tmpl"}
    folders: tuple[str, ...] = ()
    if template == "ml":
        files.update(ML_FILES)
        folders = ML_FOLDERS
    edited = (GITIGNORE, GITATTRIBUTES) if template else ()
    with WorkTree(root) as wt:
        _check_the_way(wt, folders, [*files, *edited], command)
        report = ScaffoldReport()
        holders = {rel.rpartition("/")[0] for rel in files}  # never empty: no .gitkeep
        for folder in folders:
            _make_folder(wt, folder, report, keep=folder not in holders)
        for rel, source in files.items():
            _write_new(wt, rel, _template(source), report)
        if template:
            _gitignore(wt, _template(f"{template}/gitignore.tmpl").decode("utf-8"),
                       command, report)
    if template:
        _gitattributes(root, driver, report)
        report.notes.extend(ignored_notes(root))
    return report


def _check_the_way(wt: WorkTree, folders: tuple[str, ...], files: list[str],
                   command: str) -> None:
    """Refuse, before anything is written, a path where the layout needs something else."""
    needed_dirs = {"/".join(f.split("/")[:i]) for f in [*folders, *files]
                   for i in range(1, f.count("/") + (1 if f in folders else 0) + 1)}
    for rel in sorted(needed_dirs):
        st = wt.lstat(rel)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a file"
            raise UsageError(f"'{display(rel)}' is {what} where '{command}' makes a folder; "
                             "nothing was created",
                             hint=f"move it aside (e.g. mv -- {shell_arg(rel)} "
                                  f"{shell_arg(rel + '.old')}), then run it again")
    for rel in files:
        st = wt.lstat(rel)
        if st is not None and not stat.S_ISREG(st.st_mode):
            what = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else
                    "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file")
            raise UsageError(f"'{display(rel)}' is {what} where '{command}' needs a file; "
                             "nothing was created",
                             hint=f"move it aside (e.g. mv -- {shell_arg(rel)} "
                                  f"{shell_arg(rel + '.old')}), then run it again")


def _make_folder(wt: WorkTree, folder: str, report: ScaffoldReport, *, keep: bool) -> None:
    """The folder, with a ``.gitkeep`` when it is new or empty (git keeps no empty folder)."""
    if not keep:
        wt.makedirs(folder)
        return
    if wt.lstat(folder) is not None and any(wt.path(folder).iterdir()):
        if wt.lstat(f"{folder}/{KEEP}") is not None:
            report.kept.append(f"{folder}/{KEEP}")
        return
    wt.makedirs(folder)
    _write_new(wt, f"{folder}/{KEEP}", b"", report)


def _write_new(wt: WorkTree, rel: str, data: bytes, report: ScaffoldReport) -> None:
    if wt.lstat(rel) is not None:
        report.kept.append(rel)
        return
    wt.write_bytes(rel, data, sync=False)  # new files: git does not fsync work trees
    report.created.append(rel)


def _gitignore(wt: WorkTree, template: str, command: str, report: ScaffoldReport) -> None:
    """The template when there is no ``.gitignore``; else its missing lines, appended."""
    try:
        text = wt.path(GITIGNORE).read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        wt.write_bytes(GITIGNORE, template.encode("utf-8"), sync=False)
        report.created.append(GITIGNORE)
        return
    have = {ln.strip() for ln in text.splitlines()}
    missing = [ln for ln in template.splitlines()
               if ln.strip() and not ln.startswith("#") and ln.strip() not in have]
    if not missing:
        report.kept.append(GITIGNORE)
        return
    sep = "" if not text or text.endswith("\n") else "\n"
    block = [f"# Added by '{command}' (data/ and models/ are not ignored: their files "
             "are committed as pointers)", *missing]
    new = text + sep + ("\n" if text.strip() else "") + "".join(ln + "\n" for ln in block)
    wt.write_bytes(GITIGNORE, new.encode("utf-8", "surrogateescape"))
    shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
    report.added.append(f"{GITIGNORE}: {len(missing)} missing line(s) ({shown})")


def _gitattributes(root: Path, driver: str, report: ScaffoldReport) -> None:
    """Pointer rules for ``data/**`` and ``models/**``, and the notebook rule."""
    path = root / GITATTRIBUTES
    before = path.read_bytes() if path.exists() else None
    added, _already = attributes.track(path, list(POINTER_PATTERNS), driver=driver)
    nb_pattern, _, nb_attrs = NB_ATTRIBUTES.partition(" ")
    nb_added = attributes.add_rule(path, nb_pattern, nb_attrs)
    if before is None:
        report.created.append(GITATTRIBUTES)
    elif path.read_bytes() == before:
        report.kept.append(GITATTRIBUTES)
    else:
        what = [f"{p} as pointers" for p in added]
        what += [f"{nb_pattern} through the notebook filter"] if nb_added else []
        report.added.append(f"{GITATTRIBUTES}: " + (", ".join(what) or
                                                    "its guard block moved to the end"))


# Paths inside the layout that must not be ignored: their files are committed as pointers.
# (data/processed is left out: ignoring pipeline outputs there is what repro does.)
_PROBES = ("data/raw/x", "data/external/x", "models/x")


def ignored_notes(root: Path) -> list[str]:
    """One note per layout folder a ``.gitignore`` rule hides from git."""
    proc = run_git(["check-ignore", "--no-index", *_PROBES], cwd=root, check=False)
    hidden = [ln.rpartition("/")[0] for ln in proc.stdout.decode().splitlines() if ln]
    return [f"note: a .gitignore rule ignores {folder}/: files there will not be committed "
            f"(to store them as pointers, remove the rule that 'git check-ignore -v "
            f"{folder}/x' names)" for folder in hidden]
