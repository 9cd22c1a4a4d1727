"""Other correct forms and tempting wrong ones for the topic notebooks' exercises, one module per notebook
(nb02.py for notebooks/02-*.ipynb): FORMS = {exercise id: {"right": [source, ...], "wrong": [source, ...]}}.

Each source is Python run with `kl`, `api`, `namespace` and `client` (the kubernetes client) defined, after
the exercise's `kl.practice.start`: a kubectl line (`kl.kubectl(api, ...)`), a manifest (`kl.apply`) or
client calls, as a learner could write them. The answer in solutions/notebooks/ is the first correct form;
these are the others. tests/cluster/test_practice.py runs them against the live cluster; the unit tier
checks every exercise has at least one.
"""
import importlib
import pkgutil


def forms() -> dict[str, dict[str, list[str]]]:
    out = {}
    for info in pkgutil.iter_modules(__path__):
        out.update(importlib.import_module(f"{__name__}.{info.name}").FORMS)
    return out
