"""Load ``dvc.yaml``: schema, ``${}`` templating, ``foreach``/``matrix``, paths.

The rules are DVC 3's (see ``docs/dvc-yaml.md``). The file is checked against the schema
*before* templating, as DVC does (:mod:`.schema`); values are then templated
(:mod:`.templating`, with the ``[parsing]`` settings of ``.dvc/config``), stages generated and
their paths checked (:mod:`.builder`). :mod:`.loader` finds and loads the files — its
:func:`~gitext.pipeline.dvcyaml.loader.load_all_pipelines` is what the rest of the tool calls,
usually through :mod:`gitext.pipeline.parsecache`.
"""
