"""The config reference (docs/reference/config.md, generated at docs build time by
docs/hooks/config_reference.py) lists every key of every table of the config schema, with its
type, default and meaning; no key of the schema lacks a meaning."""

from __future__ import annotations

import importlib.util
import re
import typing
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def hook():
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "docs" / "hooks" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page(hook) -> str:
    return hook.render()


def schema_classes() -> set[type]:
    """Every attrs class reachable from ExperimentConfig through its fields' types, plus the
    tables a component brings (the chip overrides, the pulsed update)."""
    from nwave_core.analog.params import UpdateParameters
    from nwave_core.chip import ChipSpec
    from nwave_core.config import ExperimentConfig

    found: set[type] = set()

    def walk(hint) -> None:
        if attrs.has(hint) and hint not in found:
            found.add(hint)
            for field in attrs.fields(attrs.resolve_types(hint)):
                walk(field.type)
        for arg in typing.get_args(hint):
            walk(arg)

    walk(ExperimentConfig)
    return found | {UpdateParameters, ChipSpec}


def rows(page: str) -> dict[str, list[list[str]]]:
    """Key -> the cells of every table row for that key."""
    found: dict[str, list[list[str]]] = {}
    for line in page.splitlines():
        match = re.match(r"^\| `([\w]+)` \|(.*)\|$", line)
        if match:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", match.group(2))]
            found.setdefault(match.group(1), []).append(cells)
    return found


def test_the_schema_walk_finds_the_tables():
    from nwave_core.config import InitConfig, SignAnnealingConfig, TrainConfig

    assert {TrainConfig, SignAnnealingConfig, InitConfig} <= schema_classes()


def test_every_key_of_the_schema_has_a_meaning():
    undocumented = [f"{cls.__name__}.{f.name}" for cls in schema_classes()
                    for f in attrs.fields(cls) if f.init and not f.metadata.get("doc", "").strip()]
    assert not undocumented, f"config keys without metadata['doc']: {', '.join(undocumented)}"


def test_every_key_appears_with_its_type_default_and_meaning(hook, page):
    from nwave_core.chip import ChipSpec
    from nwave_core.config import Component, DataConfig

    table = rows(page)
    for cls in schema_classes():
        for field in attrs.fields(cls):
            if not field.init or (cls is ChipSpec and field.name == "name"):
                continue
            if cls in (Component, DataConfig) and field.name == "params":
                continue  # "every other key": the component's own parameters, listed below
            doc = " ".join(field.metadata["doc"].split()).replace("|", "\\|")
            default = hook.default_text(field)
            assert any(cells[1] == default and cells[2] == doc
                       for cells in table.get(field.name, [])), \
                f"{cls.__name__}.{field.name}: no row with default {default} and its doc"


def test_every_nested_table_has_a_section(hook, page):
    for name, _cls, _what in hook.tables():
        if name != "top level":
            assert f"## `[{name}]`" in page, name
    for table in ("[optimizer]", "[optimizer.update]", "[lr_schedule]", "[model.chip]"):
        assert f"### `{table}`" in page, table


def test_known_values_are_rendered_as_written_in_toml(page):
    table = rows(page)
    assert ["an integer", "`10`", "passes over the training data"] in table["epochs"]
    assert any(cells[:2] == ["a number or nothing (null)", "none"]
               for cells in table["clip_grad_norm"])
    assert any(cells[1] == "`{type = \"Adam\", lr = 0.001}`" for cells in table["optimizer"])
    assert any(cells[1] == "required" for cells in table["layers"])


def test_every_built_in_layer_dataset_and_scheduler_lists_its_parameters(page):
    import nwave_core

    for kind in ("layer", "dataset", "scheduler"):
        reg = nwave_core.registry(kind)
        for entry in reg:
            assert f"#### `{entry.name}`" in page, f"{kind} {entry.name}"
            section = page.split(f"#### `{entry.name}`", 1)[1].split("####", 1)[0]
            for param in reg.describe(entry.name).params:
                if param.name not in ("spike_grad", "target"):
                    assert f"| `{param.name}` |" in section, f"{kind} {entry.name}: {param.name}"


def test_the_hook_is_registered_and_the_page_is_in_the_nav():
    text = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^hooks:\n(  - .*\n)*  - docs/hooks/config_reference.py$", text, re.M)
    assert "reference/config.md" in text
    assert not (ROOT / "docs" / "reference" / "config.md").exists(), \
        "reference/config.md is generated; a committed copy would drift"
