"""DVC's content ids for pipeline dependencies and outputs.

:mod:`.md5` hashes files (md5, DVC 2's md5-dos2unix), :mod:`.dvcignore` decides which files of a
directory DVC sees, :mod:`.tree` hashes directories (their ``.dir`` manifests: see
:mod:`gitext.store.manifests`) with a per-directory cache and saves outputs into the store.
"""
