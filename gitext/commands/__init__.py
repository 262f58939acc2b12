"""One module per area; each exposes ``register(subparsers)`` (see :mod:`gitext.cli`)."""
