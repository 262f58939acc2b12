"""Content-defined chunk storage of large files (docs/storage.md): format, packs, recipes."""
