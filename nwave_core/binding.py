"""Bind a config's parameter tables to the parameters their components declare.

[`nwave_core.config.check_config`][nwave_core.config.check_config] checks names and keys; this
module checks the values. Each table (a layer, the surrogate, a scheduler, the dataset, the
optimizer, the LR schedule, the chip) is bound to its component in three steps, and every problem is
reported with the exact path of the value (``$.model.layers[1].n_neurons``):

1. **Types** from the component's declaration: the annotations of its factory's signature, or
   the fields of its attrs ``params`` class (``n_neurons = "ten"`` against ``int``;
   ``betas = 5`` against ``tuple[float, float]``).
2. **A dry run**: the component is built from the well-typed values, so its own validators speak
   (``alpha must be > 0``, ``reset_mechanism must be one of ...``). The value the message names
   is blamed; it is left out and the dry run repeated, so several bad values of one component
   are all reported.
3. **Cross-checks** on what was built: each layer's input width against the previous layer's
   output (the data's width for the first), the data's classes against the network's outputs.
   A scheduler without ``total_steps`` spans the run (``train.epochs`` steps); one longer than
   the run gets a [`ConfigWarning`][nwave_core.errors.ConfigWarning] (it would never finish).

Nothing here trains or writes; the dataset is built with at most
[`DRY_RUN_SAMPLES`][nwave_core.binding.DRY_RUN_SAMPLES] samples.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .errors import ConfigWarning

__all__ = ["DRY_RUN_SAMPLES", "type_problem", "declared_types", "bind", "check_values"]

DRY_RUN_SAMPLES = 16
"""Samples the dry run asks of a dataset that takes ``n_samples``."""

#: words torch's optimizers use in their messages for a parameter, by parameter name
_SYNONYMS = {"lr": ("learning rate",), "eps": ("epsilon",), "betas": ("beta",),
             "weight_decay": ("weight_decay", "weight decay"), "momentum": ("momentum",),
             "n_channels": ("n_neurons",)}  # a chip frontend checks its channels as neurons

#: parameter names that set a layer's input width, and those that set its output width
_INPUT_WIDTH = ("nb_inputs", "in_features", "n_channels", "n_neurons")
_OUTPUT_WIDTH = ("nb_outputs", "out_features", "n_channels", "n_neurons")


# -- types -------------------------------------------------------------------------------------


def declared_types(target: Any, params_class: type | None = None) -> dict[str, Any]:
    """The declared type of each keyword parameter of ``target`` (or of an attrs params class).

    Annotations that cannot be resolved are left out (their values are not type-checked).
    """
    if params_class is not None:
        try:
            attrs.resolve_types(params_class)
        except Exception:  # noqa: BLE001 - an unresolvable annotation: check what we can
            pass
        return {f.alias or f.name: f.type for f in attrs.fields(params_class)
                if f.init and f.type is not None and not isinstance(f.type, str)}
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return {k: v for k, v in typing.get_type_hints(function).items() if k != "return"}
    except Exception:  # noqa: BLE001 - fall back to one annotation at a time
        pass
    hints: dict[str, Any] = {}
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return hints
    namespace = getattr(inspect.getmodule(function), "__dict__", {})
    for name, param in signature.parameters.items():
        annotation = param.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(namespace))  # noqa: S307 - the module's own text
            except Exception:  # noqa: BLE001
                continue
        if annotation is not inspect.Parameter.empty:
            hints[name] = annotation
    return hints


def _describe(hint: Any) -> str:
    if hint is type(None) or hint is None:
        return "nothing (null)"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(arm) for arm in typing.get_args(hint)))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list, each item {_describe(args[0])}"
        return f"a list of {len(args)} items" if args else "a list"
    if origin is not None and _is_sequence_origin(origin):
        args = typing.get_args(hint)
        return f"a list, each item {_describe(args[0])}" if args else "a list"
    if origin is not None and _is_mapping_origin(origin):
        return "a table"
    if hint is float:
        return "a number"
    if hint is int:
        return "an integer"
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    return getattr(hint, "__name__", repr(hint))


def _is_sequence_origin(origin: Any) -> bool:
    import collections.abc as abc

    return origin in (list, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)


def _is_mapping_origin(origin: Any) -> bool:
    import collections.abc as abc

    return origin in (dict, abc.Mapping, abc.MutableMapping)


def _fits(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` fits ``hint``; ``None`` when the hint is beyond judging."""
    if hint is Any or hint is object or hint is inspect.Parameter.empty:
        return True
    if hint is type(None) or hint is None:
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        verdicts = [_fits(value, arm) for arm in typing.get_args(hint)]
        if any(v is True for v in verdicts):
            return True
        return None if any(v is None for v in verdicts) else False
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(hint)
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return _all_fit(value, args[0])
        if len(value) != len(args):
            return False
        verdicts = [_fits(v, a) for v, a in zip(value, args)]
        return False if False in verdicts else (None if None in verdicts else True)
    if origin is not None and _is_sequence_origin(origin):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(hint)
        return _all_fit(value, args[0]) if args else True
    if origin is not None and _is_mapping_origin(origin):
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return True
        return None  # a class a config value might still be turned into (a Tensor, a module)
    return None


def _all_fit(values: Any, hint: Any) -> bool | None:
    verdicts = [_fits(v, hint) for v in values]
    return False if False in verdicts else (None if None in verdicts else True)


def type_problem(value: Any, hint: Any) -> str | None:
    """``"expected an integer, got str 'ten'"`` when ``value`` cannot be a ``hint``, else None."""
    if _fits(value, hint) is not False:
        return None
    return f"expected {_describe(hint)}, got {type(value).__name__} {value!r}"


# -- binding -------------------------------------------------------------------------------------


def _culprit(message: str, names: list[str]) -> str | None:
    """The parameter a component's error message is about: the first one it mentions."""
    text = message.split(": ", 1)[1] if re.match(r"^(\w+|\w+ '[^']*'): ", message) else message
    best: tuple[int, str] | None = None
    for name in names:
        for word in (name, *_SYNONYMS.get(name, ())):
            found = re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", text)
            if found and (best is None or found.start() < best[0]):
                best = (found.start(), name)
    return best[1] if best else None


def bind(label: str, path: str, build: Callable[..., Any], params: Mapping[str, Any],
         errors: list[str], *, hints: Mapping[str, Any], accepted: list[str] | None = None,
         required: tuple[str, ...] = (), extra: Mapping[str, Any] | None = None,
         reported: set[str] | None = None, only_named: bool = False,
         dropped: set[str] | None = None) -> Any:
    """Type-check ``params`` against ``hints``, then build the component; report into ``errors``.

    Args:
        label: how messages name the component (``"layer 'LIFLayer'"``).
        path: the table's path (``$.model.layers[1]``).
        build: called with the keyword parameters.
        params: the table's parameters.
        errors: problems are appended here as ``"message @ path"``.
        hints: declared type of each parameter.
        accepted: names the component takes (others were reported already and are left out);
            ``None`` accepts all.
        required: parameters without a default: if one is bad the dry run cannot happen.
        extra: parameters the config does not set but the build needs (a target, a chip).
        reported: paths that already have a problem (not reported twice).
        only_named: report a failed dry run only when its message names a parameter (for a
            dry run whose ``extra`` is itself incomplete).
        dropped: if given, receives the parameters left out of the build (bad values), so a
            caller knows the component was built with defaults in their place.

    Returns:
        The built component, or ``None`` when it could not be built.
    """
    reported = reported if reported is not None else set()
    dropped = dropped if dropped is not None else set()
    good: dict[str, Any] = {}
    ok = True
    for key, value in params.items():
        if accepted is not None and key not in accepted:
            continue
        if f"{path}.{key}" in reported:  # a problem already said; leave the value out
            ok = ok and key not in required
            dropped.add(key)
            continue
        problem = type_problem(value, hints[key]) if key in hints else None
        if problem is not None:
            if f"{path}.{key}" not in reported:
                errors.append(f"wrong type: {problem} @ {path}.{key}")
            ok = ok and key not in required
            dropped.add(key)
            continue
        good[key] = value
    if not ok or any(name not in good for name in required):
        return None
    for _ in range(len(good) + 1):
        try:
            return build(**good, **(extra or {}))
        except Exception as exc:  # noqa: BLE001 - any complaint of the component is the user's
            message = str(exc) or type(exc).__name__
            culprit = _culprit(message, list(good))
            where = f"{path}.{culprit}" if culprit else path
            if where not in reported and (culprit or not only_named):
                errors.append(f"invalid value: {message} @ {where}")
                reported.add(where)
            if culprit is None or culprit in required:
                return None
            del good[culprit]  # try again without it, to find the next bad value
            dropped.add(culprit)
    return None


# -- the whole config ------------------------------------------------------------------------------


def _paths(errors: list[str]) -> set[str]:
    return {e.rsplit(" @ ", 1)[-1] for e in errors}


def _entry_binding(kind: str, name: str) -> tuple[Any, dict[str, Any], list[str], tuple[str, ...]]:
    from . import registry
    from .entry import accepts_any_keyword, entry_params

    reg = registry(kind)
    entry = reg.get(name)
    params = entry_params(entry)
    accepted = None if accepts_any_keyword(entry) else [p.name for p in params]
    required = tuple(p.name for p in params if p.required)
    hints = declared_types(entry.factory, entry.params)
    return (lambda **kw: reg.create(name, **kw)), hints, accepted, required


def check_values(config: Any, errors: list[str]) -> None:
    """Bind every parameter table of ``config`` and cross-check what was built.

    Components whose names did not resolve are skipped (their problem is reported already).
    """
    import torch
    from torch import nn

    from . import registry
    from .data import DATASETS

    reported = _paths(errors)
    model_config = config.model

    chip = None
    if model_config.chip is not None and model_config.chip.type in registry("chip"):
        build, hints, accepted, required = _entry_binding("chip", model_config.chip.type)
        chip = bind(f"chip {model_config.chip.type!r}", "$.model.chip", build,
                    model_config.chip.params, errors, hints=hints, accepted=accepted,
                    required=required, reported=reported)

    surrogate = None
    if model_config.surrogate is not None and model_config.surrogate.type in registry("surrogate"):
        surrogate = _bind_surrogate(model_config.surrogate.type, model_config.surrogate.params,
                                    "$.model.surrogate", errors, reported)

    layers: list[Any] = []
    widths_unknown: set[int] = set()
    for i, component in enumerate(model_config.layers):
        path = f"$.model.layers[{i}]"
        if component.type not in registry("layer"):
            layers.append(None)
            continue
        build, hints, accepted, required = _entry_binding("layer", component.type)
        params = dict(component.params)
        extra: dict[str, Any] = {}
        spike_grad = params.pop("spike_grad", None)
        takes = accepted is None or "spike_grad" in accepted
        if not takes:
            pass  # reported as an unknown parameter already
        elif isinstance(spike_grad, Mapping) and spike_grad.get("type") in registry("surrogate"):
            own = {k: v for k, v in spike_grad.items() if k != "type"}
            extra["spike_grad"] = _bind_surrogate(spike_grad["type"], own,
                                                  f"{path}.spike_grad", errors, reported)
        elif isinstance(spike_grad, str) and spike_grad in registry("surrogate"):
            extra["spike_grad"] = spike_grad
        elif spike_grad is None and takes and surrogate is not None:
            extra["spike_grad"] = surrogate
        if extra.get("spike_grad", 0) is None:
            extra.pop("spike_grad")
        if chip is not None and (accepted is None or "chip" in accepted) and "chip" not in params:
            extra["chip"] = chip
        left_out: set[str] = set()
        layer = bind(f"layer {component.type!r}", path, build, params, errors, hints=hints,
                     accepted=accepted, required=required, extra=extra, reported=reported,
                     dropped=left_out)
        layers.append(layer)
        if layer is not None and left_out:  # built with defaults for its bad values
            widths_unknown.add(i)

    dataset = None
    data = config.data
    if data.type in DATASETS:
        builder = DATASETS[data.type]
        signature = inspect.signature(builder)
        params = dict(data.params)
        if "seed" in signature.parameters and "seed" not in params:
            params["seed"] = config.seed
        n = params.get("n_samples")
        if "n_samples" in signature.parameters and (
                n is None or (isinstance(n, int) and not isinstance(n, bool) and n >= 0)):
            default = signature.parameters["n_samples"].default
            wanted = n if n is not None else default
            if isinstance(wanted, int):
                params["n_samples"] = min(wanted, DRY_RUN_SAMPLES)
        accepted = [p.name for p in signature.parameters.values()
                    if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        required = tuple(p.name for p in signature.parameters.values()
                         if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        left_out = set()
        dataset = bind(f"dataset {data.type!r}", "$.data", builder, params, errors,
                       hints=declared_types(builder), accepted=accepted, required=required,
                       reported=reported, dropped=left_out)
        if left_out:  # built with defaults for its bad values: its shape says nothing
            dataset = None

    parameter = nn.Parameter(torch.zeros(1))
    optimizer = None
    optimizer_cls = _torch_class(torch.optim, config.optimizer.type)
    if optimizer_cls is not None:
        hints = declared_types(optimizer_cls)
        optimizer = bind(f"optimizer {config.optimizer.type!r}", "$.optimizer",
                         lambda **kw: optimizer_cls([parameter], **kw), config.optimizer.params,
                         errors, hints=hints, accepted=_keywords(optimizer_cls, skip=1),
                         reported=reported)
    if config.lr_schedule is not None and optimizer is not None:
        schedule_cls = _torch_class(torch.optim.lr_scheduler, config.lr_schedule.type)
        if schedule_cls is not None:
            bind(f"lr_schedule {config.lr_schedule.type!r}", "$.lr_schedule",
                 lambda **kw: schedule_cls(optimizer, **kw), config.lr_schedule.params, errors,
                 hints=declared_types(schedule_cls), accepted=_keywords(schedule_cls, skip=1),
                 required=_required(schedule_cls, skip=1), reported=reported)

    built = [layer for layer in layers if layer is not None]
    model = nn.Sequential(*built) if built else None
    complete = len(built) == len(layers)
    epochs = config.train.epochs if isinstance(config.train.epochs, int) else None
    for i, component in enumerate(config.schedulers):
        path = f"$.schedulers[{i}]"
        if component.type not in registry("scheduler") or model is None:
            continue
        build, hints, accepted, required = _entry_binding("scheduler", component.type)
        params = {k: v for k, v in component.params.items() if k != "target"}
        takes_steps = accepted is None or "total_steps" in accepted
        if takes_steps and "total_steps" not in params and epochs is not None and epochs >= 1:
            params["total_steps"] = epochs  # the default horizon: the whole run
        elif takes_steps and isinstance(params.get("total_steps"), int) and epochs is not None \
                and params["total_steps"] > epochs:
            warnings.warn(f"total_steps {params['total_steps']} is longer than the run ({epochs} "
                          f"epochs, one scheduler step each), so the schedule stops "
                          f"{epochs / params['total_steps']:.0%} of the way; set total_steps <= "
                          f"train.epochs or leave it out (default: the run's length) @ "
                          f"{path}.total_steps", ConfigWarning, stacklevel=2)
        bind(f"scheduler {component.type!r}", path, build, params, errors, hints=hints,
             accepted=accepted, required=tuple(r for r in required if r != "target"),
             extra={"target": model}, reported=reported, only_named=not complete)

    _check_widths(config, [None if i in widths_unknown else layer for i, layer in enumerate(layers)],
                  dataset, errors, reported)


def _bind_surrogate(name: str, params: Mapping[str, Any], path: str, errors: list[str],
                    reported: set[str]) -> Any:
    build, hints, accepted, required = _entry_binding("surrogate", name)
    return bind(f"surrogate {name!r}", path, build, params, errors, hints=hints,
                accepted=accepted, required=required, reported=reported)


def _torch_class(module: Any, name: str) -> Any:
    lowered = name.strip().lower()
    for attribute, value in vars(module).items():
        if attribute.lower() == lowered and isinstance(value, type) and not attribute.startswith("_"):
            return value
    return None


def _keywords(cls: type, skip: int) -> list[str]:
    params = list(inspect.signature(cls).parameters.values())[skip:]
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _required(cls: type, skip: int) -> tuple[str, ...]:
    params = list(inspect.signature(cls).parameters.values())[skip:]
    return tuple(p.name for p in params
                 if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


# -- cross-checks -------------------------------------------------------------------------------------


def _width(module: Any, params: Mapping[str, Any],
           names: tuple[str, ...]) -> tuple[str, int] | None:
    """(parameter, width) from a built layer's attributes, or from its table when not built."""
    for name in names:
        value = getattr(module, name, None) if module is not None else params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return name, value
    return None


def _data_shape(config: Any, dataset: Any) -> tuple[int | None, int | None]:
    """(channels, classes) of the data: from the dry-run dataset, else from its table."""
    width = classes = None
    if dataset is not None:
        try:
            if len(dataset) > 0:
                sample = dataset[0]
                x = sample[0] if isinstance(sample, (tuple, list)) else sample
                width = int(x.shape[-1])
        except Exception:  # noqa: BLE001 - a dataset we cannot look into: no width check
            width = None
        names = getattr(dataset, "classes", None)
        classes = len(names) if names is not None else None
        return width, classes
    params = config.data.params
    for name in ("n_channels", "n_bands"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            width = value
    value = params.get("n_classes")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        classes = value
    return width, classes


def _check_widths(config: Any, layers: list[Any], dataset: Any, errors: list[str],
                  reported: set[str]) -> None:
    """Each layer's input width against what feeds it; the classes against the outputs."""
    from . import registry

    width, classes = _data_shape(config, dataset)
    source = "the data's channels ($.data)"
    for i, (module, component) in enumerate(zip(layers, config.model.layers)):
        path = f"$.model.layers[{i}]"
        kind = component.type if module is None else type(module).__name__
        if module is None and component.type not in registry("layer"):
            width = None  # an unknown layer (reported already): the chain restarts after it
            continue
        expects = _width(module, component.params, _INPUT_WIDTH)
        if expects is not None and width is not None and expects[1] != width:
            name, value = expects
            at = f"{path}.{name}" if name in component.params else path
            label = name if name in component.params else "by default"
            if at not in reported:
                errors.append(f"size mismatch: {kind} takes {value} inputs ({label}), but "
                              f"{source} {'are' if i == 0 else 'is'} {width}; make them equal "
                              f"@ {at}")
                reported.add(at)
        gives = _width(module, component.params, _OUTPUT_WIDTH)
        width = gives[1] if gives is not None else None  # unknown: the chain restarts
        source = f"the output of $.model.layers[{i}] ({kind})"
    outputs = width
    train = config.train
    wanted = train.num_classes if isinstance(train.num_classes, int) else None
    if wanted is not None and outputs is not None and outputs < wanted:
        errors.append(f"size mismatch: {wanted} classes need at least {wanted} outputs, but the "
                      f"last layer has {outputs} @ $.train.num_classes")
    limit = wanted if wanted is not None else outputs
    what = "of train.num_classes" if wanted is not None else "outputs of the last layer"
    if classes is not None and limit is not None and classes > limit:
        at = "$.data.n_classes" if "n_classes" in config.data.params else "$.data"
        if at not in reported:
            errors.append(f"size mismatch: the data has {classes} classes, more than the {limit} "
                          f"{what}; give the network at least one output per class @ {at}")
