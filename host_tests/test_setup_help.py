"""setup.help() (firmware/setup.py) lists every setup function with every argument its signature takes."""

import inspect
import re

import setup


def public_functions():
    return {name: fn for name, fn in vars(setup).items()
            if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == "setup"}


def help_text(monkeypatch):
    printed = []
    monkeypatch.setattr(setup, "_say", printed.append)
    setup.help()
    return "\n".join(printed)


def test_setup_help_lists_every_setter_and_every_argument(monkeypatch):
    text = help_text(monkeypatch)
    shown = {}
    for match in re.finditer(r"setup\.(\w+)\(([^)]*)\)", text):
        args = [a.strip().split("=")[0] for a in match.group(2).split(",") if a.strip()]
        shown[match.group(1)] = args
    functions = public_functions()
    assert sorted(shown) == sorted(functions), (sorted(shown), sorted(functions))
    for name, fn in functions.items():
        params = list(inspect.signature(fn).parameters)
        assert shown[name] == params, "setup.help() shows setup.%s(%s); its signature is (%s)" % (
            name, ", ".join(shown[name]), ", ".join(params))
