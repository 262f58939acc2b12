"""Package data: the files ``git archives init --template NAME`` writes (see gitext.scaffold)."""
