"""Writing files safely: the one way into the work tree (:mod:`.worktree`) and atomic
replacement of files in the git dir or the user's config (:mod:`.atomic`)."""
