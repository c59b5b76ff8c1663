"""The API reference documents every public name: each name of each ``__all__`` in nwave_core and
nwave_plugins (recursively over their public modules) and each built-in entry of every registry.

The check reads the built site: a name counts as documented when the reference pages carry its
anchor (the ``id`` mkdocstrings gives the object's heading), under the module that lists it or
under the module that defines it. So a ``:::`` directive that does not render a member (no
docstring, filtered out, a ``members:`` list that forgets it) fails here, naming what is missing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("nwave_core", "nwave_plugins")
#: the distribution whose registry entries are built in
BUILT_IN = "nwave-snn"
ANCHOR = re.compile(r'\bid="([\w.]+)"')


def public_modules() -> list[ModuleType]:
    """nwave_core, nwave_plugins and every submodule without a leading underscore."""
    found = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                found.append(importlib.import_module(info.name))
    return found


def defined_at(obj: object) -> str | None:
    """Where a class or function is defined (``module.Qualified.name``); None for data and for
    objects made inside a function."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if inspect.isclass(obj) or inspect.isfunction(obj):
        if "<locals>" not in obj.__qualname__:
            return f"{obj.__module__}.{obj.__qualname__}"
    return None


def places(obj: object, listed_as: str | None = None) -> set[str]:
    """The anchors under which ``obj`` may be documented: where it is listed, where it is
    defined, and every public module that holds it under the same name."""
    found = {listed_as} if listed_as else set()
    if (at := defined_at(obj)) is not None:
        found.add(at)
    if listed_as:
        name = listed_as.rsplit(".", 1)[-1]
        for module in public_modules():
            if module.__dict__.get(name, None) is obj:
                found.add(f"{module.__name__}.{name}")
    return found


def public_names() -> dict[str, set[str]]:
    """``module.name`` of each ``__all__`` entry -> the anchors that document it."""
    names = {}
    for module in public_modules():
        for name in getattr(module, "__all__", ()):
            if name == "__version__":
                continue
            listed = f"{module.__name__}.{name}"
            names[listed] = places(getattr(module, name), listed)
    return names


def built_in_entries() -> dict[str, set[str]]:
    """``kind name`` of each built-in registry entry -> the anchors that document it.

    A factory that is a class or function is documented where it is defined; a bound method
    (a chip's ``with_overrides``) where its object is; a factory made inside a function (a
    surrogate preset) by the object that lists it, found by the entry name in its section.
    """
    import nwave_core

    entries = {}
    for kind in nwave_core.KINDS:
        for entry in nwave_core.registry(kind):
            if entry.provider is None or entry.provider.distribution != BUILT_IN:
                continue
            factory = entry.factory
            if inspect.ismethod(factory):
                factory = factory.__self__
            anchors = places(factory)
            if not anchors:  # an object (a chip spec): the public modules that hold it
                anchors = {f"{module.__name__}.{n}" for module in public_modules()
                           for n, v in vars(module).items()
                           if v is factory and not n.startswith("_")}
            if not anchors:  # a closure (a preset): its name on its module's page
                anchors = {f"text:{entry.factory.__module__}:{entry.name}"}
            entries[f"{kind} {entry.name!r}"] = anchors
    return entries


@pytest.fixture(scope="module")
def reference(built_site) -> dict[str, str]:
    """The built reference pages: path -> html."""
    site, _ = built_site
    return {str(p.relative_to(site)): p.read_text()
            for p in (site / "reference").rglob("*.html")}


def anchors_of(reference: dict[str, str]) -> set[str]:
    return {a for html in reference.values() for a in ANCHOR.findall(html)}


def documented(anchors: set[str], wanted: set[str], reference: dict[str, str]) -> bool:
    for place in wanted:
        if place.startswith("text:"):
            _, module, name = place.split(":")
            page = [html for html in reference.values() if f'id="{module}"' in html]
            if page and f"<code>{name}</code>" in page[0] or page and f"'{name}'" in page[0]:
                return True
        elif place in anchors:
            return True
    return False


def test_the_collection_sees_the_public_api():
    names = public_names()
    # a few that must be there, so an empty walk cannot pass
    for name in ("nwave_core.registry", "nwave_core.optim.SignAnnealing",
                 "nwave_plugins.surrogates.Triangle", "nwave_core.plots.plot_surrogates",
                 "nwave_plugins.layers.LIFLayer", "nwave_plugins.h1.H1V2"):
        assert name in names, name
    assert len(built_in_entries()) >= 70


def test_every_public_name_is_in_the_api_reference(reference):
    anchors = anchors_of(reference)
    missing = sorted(name for name, wanted in public_names().items()
                     if not documented(anchors, wanted, reference))
    assert not missing, (f"{len(missing)} public names are not rendered in docs/reference "
                         f"(add a ::: directive for them or their module, and a docstring): "
                         + ", ".join(missing))


def test_every_built_in_registry_entry_is_in_the_api_reference(reference):
    anchors = anchors_of(reference)
    missing = sorted(f"{entry} (looked for {', '.join(sorted(wanted))})"
                     for entry, wanted in built_in_entries().items()
                     if not documented(anchors, wanted, reference))
    assert not missing, ("built-in registry entries not rendered in docs/reference: "
                         + "; ".join(missing))


def test_reference_pages_read_as_prose_before_the_directives():
    """Each page opens with a paragraph saying what it holds (readable on the repository page)."""
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        text = page.read_text()
        head = text.split(":::", 1)[0]
        prose = [line for line in head.splitlines()[1:] if line.strip() and not line.startswith("#")]
        assert len(" ".join(prose)) >= 120, f"{page.name}: no introduction before the ::: directives"


def test_every_public_class_and_function_has_a_docstring_in_its_source():
    """mkdocstrings reads docstrings from the source: one assigned at run time
    (``__doc__ = Base.__doc__``) renders as nothing."""
    import ast
    import textwrap

    missing, seen = [], set()
    for module in public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            at = defined_at(obj)
            if at is None or at in seen or not at.startswith(PACKAGES):
                continue
            seen.add(at)
            node = ast.parse(textwrap.dedent(inspect.getsource(obj))).body[0]
            if not ast.get_docstring(node):
                missing.append(at)
    assert not missing, f"public classes and functions without a docstring: {', '.join(missing)}"


def test_no_sphinx_roles_left_in_the_sources():
    """Docstrings are Google style read by mkdocstrings: a ``:func:`x``` role renders raw;
    cross-references are written ``[`x`][nwave_core.module.x]``."""
    role = re.compile(r":(?:py:)?(?:attr|meth|func|class|mod|data|obj|exc|const|ref):`")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for folder in ("nwave_core", "plugins") for path in sorted((ROOT / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if role.search(line)]
    assert not found, f"Sphinx roles render raw in the API reference: {', '.join(found)}"
