"""git itself: the one module that runs git (:mod:`.repo`), and what we keep in a clone's git
config, attributes and hooks."""
