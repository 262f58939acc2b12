"""Content-addressed object stores (the local cache; remotes use the same layout)."""
