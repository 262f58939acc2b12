"""remotes."""
