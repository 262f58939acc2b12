"""Pure codecs and primitives with no I/O of their own: Git LFS pointers, pkt-line framing,
object ids, and the quoting of names we print."""
