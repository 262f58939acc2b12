"""The verb table that lets a command build only its own area's parser."""

from __future__ import annotations

import argparse
import importlib

import pytest

from gitext.cli import COMMAND_MODULES, VERB_MODULES, build_parser, main


def test_the_verb_table_names_the_module_that_registers_each_verb() -> None:
    registered = {}
    for name in COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="verb")
        importlib.import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == VERB_MODULES


def test_one_area_parser_parses_its_verbs_like_the_full_one() -> None:
    only = build_parser(VERB_MODULES["push"]).parse_args(["push", "--jobs", "3"])
    full = build_parser().parse_args(["push", "--jobs", "3"])
    assert vars(only).keys() == vars(full).keys()
    assert {k: v for k, v in vars(only).items() if k != "func"} == {
        k: v for k, v in vars(full).items() if k != "func"}


def test_an_unknown_verb_still_gets_the_full_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-verb"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "repro" in err
