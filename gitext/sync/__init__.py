"""Moving objects between the work tree, the cache and a remote: which objects the history
references, push / pull / fetch, the in-place fill of pointer files, and gc."""
