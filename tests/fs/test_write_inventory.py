"""The invariant code review checks: nothing writes into the work tree except through
``gitext.fs.worktree.WorkTree``. Every module that calls a file-writing primitive is listed here
with what it writes; a module that starts writing, or stops, fails this test until the
list (and a reviewer) says why."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gitext"

# module -> what its writes touch (never a path taken from the repository's content)
INVENTORY = {
    "fs/worktree.py": "THE way into the work tree (openat walk, no symlink followed)",
    "fs/refill.py": "a pointer file given its content in its own inode: its folder reached "
                    "by WorkTree.parent (the symlink-free walk), renames within it",
    "fs/atomic.py": "atomic_write: files in the git dir and the user's own config files",
    "store/objects.py": "the object cache in <git common dir>/archives (md5: DVC's cache)",
    "store/manifests.py": "directory manifests into the object cache",
    "store/chunks/packs.py": "packs, their indexes and recipes in <cache>/chunks (via its tmp/)",
    "store/chunks/check.py": "fsck: damaged packs and recipes moved to <cache>/quarantine",
    "store/chunks/collect.py": "gc: packs and recipes removed from <cache>/chunks",
    "store/reading.py": "a chunked object rebuilt into <cache>/tmp for an upload; quarantine",
    "store/dvccache.py": "md5 objects of archives/files/md5 moved into DVC's cache (checked "
                         "to be the user's or inside the clone, outside .git)",
    "store/unstored.py": "the unstored-objects note in <git common dir>/archives",
    "store/lfsobjects.py": "git-lfs objects taken over into the cache (via its tmp/); "
                           "git-lfs's own folder is only read",
    "remotes/local.py": "a directory remote the user configured",
    "remotes/azure.py": "a download into the cache's temp file (the path transfer gives it)",
    "remotes/azureread.py": "the same download when it is read without the SDK",
    "remotes/s3.py": "temp files of a download into the cache",
    "remotes/gcs.py": "temp files of a download into the cache (from GCS)",
    "remotes/lfs.py": "temp files of a download into the cache (from a Git LFS server)",
    "remotes/http.py": "temp files of a download into the cache (from an http(s) remote)",
    "remotes/ssh.py": "temp files of a download into the cache (from an SFTP server)",
    "remotes/sshsupport.py": "new files and folders on the SFTP server of an ssh remote the user "
                             "configured (nothing local)",
    "sync/transfer.py": "the cache's tmp/ folders a fetch downloads into",
    "sync/download.py": "a fetched object into the cache (via its tmp/), once verified",
    "sync/chunkremote.py": "a remote's pack indexes cached in <cache>/chunks/remotes/, and the "
                           "packs built for an upload in the cache's tmp/",
    "sync/chunksync.py": "an uploaded pack's index moved into the remote's index cache "
                         "(<cache>/chunks/remotes/)",
    "commands/nbmerge.py": "the merge driver's result into git's own %A file; nb diff --html "
                           "into the file named by -o",
    "sync/runcache.py": "fetched entries into the run-cache in the git dir",
    "sync/fill.py": "index.lock/index in the git dir (files go through WorkTree)",
    "sync/gc.py": "deletes unreferenced objects from the cache",
    "sync/migrate_lfs.py": "the rewritten .gitattributes files (through WorkTree)",
    "sync/migrate_nbstripout.py": "the rewritten .gitattributes files (through WorkTree) and "
                                  ".git/info/attributes (atomic_write)",
    "store/state.py": "state.db in the git dir",
    "git/install.py": ".git/info/attributes (the notebook attributes line)",
    "git/hookinstall.py": "hook shims in the hooks folder; the user's hooks renamed beside them",
    "git/installrecord.py": "the install manifest (install.json in the git dir, or the "
                            "--global one in the user's config folder)",
    "git/indexlock.py": "index.lock.archives (who holds index.lock) in the git dir",
    "sync/pointers.py": "the 'pending' flag beside state.db in the git dir",
    "notebooks/refresh.py": "outputs kept aside in the git dir",
    "notebooks/pairing/state.py": "the pairing state (nbsync/) in the git dir",
    "notebooks/pairing/guarded.py": "a paired notebook or text file: its folder reached by "
                                    "WorkTree.parent (the symlink-free walk), then one "
                                    "rename after the compare-and-swap",
    "notebooks/kept.py": "outputs the notebook filter kept aside (nb-outputs/) in the git dir",
    "notebooks/jupyter_hook.py": "the user's Jupyter config file",
    "commands/nbstrip.py": "the user's own notebook files named on the command line",
    "plots/render.py": "plots show|diff: DIR/index.html where -o names a folder outside the "
                       "clone (inside it, the default dvc_plots included, through WorkTree)",
    "commands/inspect.py": "fsck: removes stale temp files in the cache (git dir); a work-tree "
                           "temp file goes through WorkTree",
    "commands/help.py": "manual pages into the folder given to help --man-dir",
    "sync/get.py": "its own scratch clone; the copy is assembled through WorkTree in a fresh "
                   "temporary sibling of OUT (a path the user chose), then renamed to OUT",
    "pipeline/runcache.py": "the run-cache in the git dir",
    "pipeline/gitignore.py": "the .gitignore beside an output (through WorkTree)",
    "scaffold.py": "init's project files: folders, .gitkeep, templates, .gitignore (through "
                   "WorkTree)",
    "sync/migrate_dvc.py": ".gitattributes put back after a failed migration (through "
                           "WorkTree)",
    "pipeline/metrics/read.py": "a private temp folder (scratch copies go through WorkTree)",
    "demo/__init__.py": "the demo's own scratch project",
    "cli.py": "only /dev/null, opened for writing when stdout is closed",
    "exp/params_set.py": "exp run -S: the edited params files in the experiment's temporary "
                         "worktree (through WorkTree)",
    "exp/run.py": "exp run: its temporary worktrees' folder <git common dir>/archives/exps; the "
                  "user's changed files and .dvc/config.local copied into the temporary "
                  "worktree through WorkTree; the user's DVC cache folder made if missing",
}

_OS_WRITES = {"replace", "rename", "link", "symlink", "unlink", "remove", "rmdir", "mkdir",
              "makedirs", "utime", "chmod", "truncate", "removedirs"}
_PATH_WRITES = {"write_bytes", "write_text", "mkdir", "unlink", "touch", "rmdir", "chmod",
                "symlink_to", "hardlink_to"}
_CALLS = {"atomic_write", "rmtree", "copyfile", "copy", "copy2", "move", "mkstemp"}


def _writes(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in _CALLS:
                return True
            if func.id == "open" and _write_mode(node):
                return True
            continue
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if owner == "os" and (func.attr in _OS_WRITES or (func.attr == "open"
                              and _os_open_writes(node))):
            return True
        if owner in ("shutil", "tempfile") and func.attr in _CALLS:
            return True
        if func.attr in _PATH_WRITES or (func.attr in ("replace", "rename") and len(
                node.args) == 1 and owner not in ("os", "str")):
            if func.attr in ("replace", "rename") and isinstance(node.args[0], ast.Constant):
                continue
            return True
        if func.attr == "open" and _write_mode(node, first=0):
            return True
    return False


def _write_mode(node: ast.Call, first: int = 1) -> bool:
    modes = list(node.args[first:first + 1]) + [k.value for k in node.keywords
                                                        if k.arg == "mode"]
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str)
               and any(c in m.value for c in "wax+") for m in modes)


def _os_open_writes(node: ast.Call) -> bool:
    flags = ast.dump(node.args[1]) if len(node.args) > 1 else ""
    return any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT"))


def test_every_module_that_writes_files_is_in_the_inventory() -> None:
    writers = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if _writes(ast.parse(path.read_text(encoding="utf-8"))):
            writers.add(path.relative_to(PACKAGE).as_posix())
    unlisted = sorted(writers - set(INVENTORY))
    assert not unlisted, (
        f"{unlisted} write files: work-tree writes must go through gitext.fs.worktree.WorkTree; "
        "anything else needs a line in INVENTORY saying what it writes")
    stale = sorted(set(INVENTORY) - writers)
    assert not stale, f"{stale} no longer write: remove them from INVENTORY"
