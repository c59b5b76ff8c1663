"""MkDocs hook: the config reference page (``reference/config.md``), written from the schema.

Every table of a config is an attrs class of ``nwave_core.config`` (``ExperimentConfig`` and the
classes its fields hold); each key is a field with its type, default and ``metadata["doc"]``.
The tables that name a component (``[model.surrogate]``, ``[[model.layers]]``, ``[data]``,
``[[schedulers]]``, ``[optimizer]``, ``[model.chip]``) also take that component's parameters;
those of the built-in layers, datasets and schedulers are listed from the registries, the chip
overrides from ``ChipSpec`` and ``[optimizer.update]`` from ``UpdateParameters``. Nothing here
is written by hand, so the page cannot drift from the code: ``tests/test_config_reference.py``
renders it and checks every field.

Registered in ``mkdocs.yml`` under ``hooks:``; ``render()`` is the page's Markdown.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from typing import Any

import attrs

PAGE = "reference/config.md"

INTRO = """\
# Config reference

Every key a config file (`nwave train CONFIG`) can hold, table by table, with its type, its
default and what it does. This page is generated from the schema in `nwave_core.config` when the
documentation is built, so it lists exactly what `nwave_core.load_config` accepts. A key left
out takes its default; a key not listed here is an error that names the allowed keys. How to
write and run a config: [Train from a config](../training.md). `nwave show KIND NAME` prints the
parameters of any installed component, third-party ones included.

Types are given as TOML values: *an integer*, *a number* (an integer is accepted too), *a
string*, *true or false*, *a list*, *a table*; *nothing (null)* means the key is left out.
"""


def _field_type(field: attrs.Attribute) -> str:
    from nwave_core.binding import _describe

    hint = field.type
    if hint is None:
        return ""
    if inspect.isclass(hint) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(f'`"{m.value}"`' for m in hint)
    if _component(hint):
        return "a table with `type`, or a name"
    if _component_list(hint):
        return "a list of tables, each with `type`"
    if _table(hint):
        return "a table"
    return _describe(hint)


def _arms(hint: Any) -> list[Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(hint) if a is not type(None)]
    return [hint]


def _component(hint: Any) -> bool:
    from nwave_core.config import Component

    return any(arm is Component for arm in _arms(hint))


def _component_list(hint: Any) -> bool:
    from nwave_core.config import Component

    return typing.get_origin(hint) is list and typing.get_args(hint) == (Component,)


def _table(hint: Any) -> type | None:
    """The attrs class a field holds as a nested table (not a component)."""
    from nwave_core.config import Component

    for arm in _arms(hint):
        if attrs.has(arm) and arm is not Component:
            return arm
    return None


def default_text(field: attrs.Attribute) -> str:
    """The default as a reader writes it in TOML; ``required`` when there is none."""
    default = field.default
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    return value_text(default)


def value_text(value: Any) -> str:
    if value is None or value is inspect.Parameter.empty:
        return "none" if value is None else "required"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        return f'`"{value.value}"`'
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (int, float)):
        return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"
    if attrs.has(type(value)):
        from nwave_core.config import Component

        if isinstance(value, Component):
            params = "".join(f", {k} = {v!r}" for k, v in value.params.items())
            return f'`{{type = "{value.type}"{params}}}`'
        return "a table of defaults"
    if isinstance(value, (list, tuple)):
        return "`[" + ", ".join(str(v) if not isinstance(v, str) else f'"{v}"' for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value!r}`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def field_rows(cls: type, skip: tuple[str, ...] = ()) -> list[str]:
    """One table row per field: key, type, default, meaning."""
    attrs.resolve_types(cls)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for field in attrs.fields(cls):
        if field.name in skip or not field.init:
            continue
        doc = field.metadata.get("doc", "")
        rows.append(f"| `{field.alias or field.name}` | {_cell(_field_type(field))} | "
                    f"{_cell(default_text(field))} | {_cell(doc)} |")
    return rows


def param_rows(params: Any) -> list[str]:
    """Rows for a component's parameters, as the registry describes them."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for p in params:
        rows.append(f"| `{p.name}` | {_cell(p.annotation)} | {_cell(value_text(p.default))} | "
                    f"{_cell(p.doc)} |")
    return rows


def tables() -> list[tuple[str, type, str]]:
    """``(table name, attrs class, what it is)`` for the config and each nested table."""
    from nwave_core.config import ExperimentConfig

    found: list[tuple[str, type, str]] = [("top level", ExperimentConfig, "")]

    def walk(prefix: str, cls: type) -> None:
        attrs.resolve_types(cls)
        for field in attrs.fields(cls):
            nested = _table(field.type)
            if nested is not None:
                name = f"{prefix}{field.name}"
                found.append((name, nested, field.metadata.get("doc", "")))
                walk(f"{name}.", nested)

    walk("", ExperimentConfig)
    return found


def _heading(name: str, cls: type) -> str:
    return "## Top level" if name == "top level" else f"## `[{name}]`"


def _registry_section(kind: str, title: str, intro: str, skip: tuple[str, ...] = ()) -> list[str]:
    import nwave_core

    lines = [title, "", intro, ""]
    reg = nwave_core.registry(kind)
    for entry in reg:
        described = reg.describe(entry.name)
        params = [p for p in described.params if p.name not in skip]
        provider = f" ({described.provider.distribution})" if described.provider else ""
        lines += [f"#### `{entry.name}`{provider}", ""]
        if described.summary:
            lines += [_cell(described.summary), ""]
        lines += (param_rows(params) if params else ["No parameters."]) + [""]
    return lines


def render() -> str:
    """The config reference as Markdown."""
    from nwave_core.analog.params import UpdateParameters
    from nwave_core.chip import ChipSpec
    from nwave_core.config import LOSSES, Component

    out = [INTRO, ""]
    for name, cls, what in tables():
        out += [_heading(name, cls), ""]
        if what:
            out += [f"{what[0].upper()}{what[1:]}.", ""]
        if cls.__doc__ and name != "top level":
            out += [inspect.cleandoc(cls.__doc__).split("\n\n")[0], ""]
        out += field_rows(cls, skip=("params",)) + [""]
        if name == "data":
            out += ["Every other key of `[data]` is a parameter of the dataset `type` names "
                    "(see [dataset parameters](#dataset-parameters)).", ""]
        if name == "train":
            out += [f"`loss` is one of {', '.join(f'`{n}`' for n in LOSSES)}.", ""]

    out += ["## Component tables", "",
            "A table that names a component has a `type` (a registry name, or a torch class "
            "name for `[optimizer]` and `[lr_schedule]`); every other key is a parameter of "
            "that component. A name alone stands for a table with only `type` "
            "(`surrogate = \"atan\"`).", ""]
    out += field_rows(Component, skip=("params",)) + [""]
    out += ["### `[optimizer]`", "",
            "`type` is a `torch.optim` class name (`Adam`, `SGD`, ...) or `pulsed_sgd` "
            "(`nwave_core.analog.PulsedSGD`); the other keys are its keyword arguments "
            "(`lr = 0.01`).", "",
            "### `[optimizer.update]`", "",
            "With `type = \"pulsed_sgd\"`: the parameters of the pulsed update "
            "(`nwave_core.analog.UpdateParameters`).", ""]
    out += field_rows(UpdateParameters) + [""]
    out += ["### `[lr_schedule]`", "",
            "`type` is a `torch.optim.lr_scheduler` class name (`CosineAnnealingLR`, ...); the "
            "other keys are its keyword arguments (`T_max = 10`).", ""]
    out += ["### `[model.chip]`", "",
            "`type` is a chip name (`h1v2`); every other key overrides that field of its "
            "`ChipSpec` (`weight_bits = 4`). A chip also flows into the generic chip layers "
            "(`ChipLayer`, `ChipSynapse`, `ChipFrontend`) that name no chip of their own.", ""]
    out += field_rows(ChipSpec, skip=("name",)) + [""]
    out += _registry_section(
        "layer", "### Layer parameters", "The keys of each `[[model.layers]]` table, after "
        "`type`, for each layer installed when these docs were built.", skip=("spike_grad",))
    out += ["`spike_grad` (a surrogate table or name) is accepted by every layer that takes a "
            "surrogate; without it the layer uses `[model] surrogate`.", ""]
    out += _registry_section(
        "dataset", "### Dataset parameters", "The keys of `[data]` besides `type`, "
        "`batch_size` and `test_fraction`, for each dataset.")
    out += _registry_section(
        "scheduler", "### Scheduler parameters", "The keys of each `[[schedulers]]` table "
        "besides `type`. `target` is the model and is not written; `total_steps` left out "
        "spans the run (`train.epochs` steps).", skip=("target",))
    out += ["### Surrogate parameters", "",
            "The keys of `[model.surrogate]` (and of a layer's `spike_grad`) besides `type`: "
            "see the [surrogate catalogue](../surrogates.md#catalogue), which lists every "
            "surrogate's parameters and defaults.", ""]
    return "\n".join(out)


def on_files(files: Any, config: Any) -> Any:
    """Add the generated page to the site."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files
