"""Config-driven assembly: TOML / YAML / dict -> validated attrs specs, every error at once.

A config names every component through the registries (``type = "H1v2Layer"``,
``type = "atan"``, ...), so a third-party plugin's components are usable by name once installed.
Loading checks the whole config and raises one [`ConfigError`][nwave_core.config.ConfigError]
listing every problem with its path (``$.model.layers[1].n_neurons``): unknown keys (with "did you
mean"), unknown component names (with suggestions and the available names), wrong types,
out-of-range values, missing required parameters, and plugins the config ``requires`` that are not
installed.

Layout (TOML)::

    seed = 0
    out = "runs/h1v2"
    requires = ["nwave-snn>=0.1"]

    [model]
    surrogate = { type = "atan", alpha = 2.0 }     # for layers that take spike_grad
    chip = { type = "h1v2" }                       # optional: validation, hardening, export
    [[model.layers]]
    type = "H1v2Frontend"
    [[model.layers]]
    type = "H1v2Synapse"
    nb_inputs = 16
    nb_outputs = 50

    [data]
    type = "audio_like"          # a dataset name (registry kind "dataset")
    batch_size = 32
    test_fraction = 0.2
    n_samples = 256              # anything else is a parameter of the dataset

    [train]
    epochs = 10

    [optimizer]
    type = "Adam"                # a torch.optim class
    lr = 0.01

    [lr_schedule]                # optional: a torch.optim.lr_scheduler class
    type = "CosineAnnealingLR"
    T_max = 10

    [[schedulers]]               # scheduler registry names; the target is the model
    type = "surrogate"
    policy = "linear"
    start_value = 1.0
    end_value = 4.0

    [sign_annealing]             # optional
    alpha_start = 0.5
    alpha_end = 10.0

    [init]                       # optional: chip-aware initialisation (nwave_core.init)
    method = "fluct"             # fluctuation-driven; "uniform": init_weights
    xi_target = 2.0
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from .entry import ParamInfo
from .errors import NwaveError
from .suggest import did_you_mean

__all__ = ["Component", "ModelConfig", "DataConfig", "TrainConfig", "SignAnnealingConfig",
           "InitConfig",
           "ExperimentConfig", "ConfigError", "load_config", "parse_config", "config_to_dict",
           "fill_config", "dump_toml", "dump_yaml", "LOSSES", "read_config", "apply_overrides"]

LOSSES: tuple[str, ...] = ("cross_entropy", "spike_count", "membrane_max", "membrane_mean",
                           "population_mse", "rate_mse")
"""Training losses (read-outs) a config can name: nwave_core.losses.READOUTS."""
#: the device names ``train.device`` accepts
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class ConfigError(NwaveError, ValueError):
    """A config with problems; ``errors`` lists each as ``"message @ $.path"``."""

    def __init__(self, errors: list[str], source: str = "config") -> None:
        self.errors = errors
        self.source = source
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{source}: {len(errors)} problem{'s' if len(errors) != 1 else ''}:\n{lines}")


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@attrs.define
class Component:
    """A registry name (``type``) and the keyword parameters to build it with."""

    type: str = attrs.field(metadata=_doc(
        "the component's registry name (a torch class name for [optimizer] and [lr_schedule])"))
    params: dict[str, Any] = attrs.field(factory=dict, metadata=_doc(
        "every other key of the table: the component's keyword parameters"))


@attrs.define
class ModelConfig:
    """The ``[model]`` table: the layers in data-flow order, and what they share."""

    layers: list[Component] = attrs.field(metadata=_doc("the layers, in data-flow order"))
    surrogate: Component | None = attrs.field(default=None, metadata=_doc(
        "surrogate for every layer that takes spike_grad and names none"))
    chip: Component | None = attrs.field(default=None, metadata=_doc(
        "chip target: validation, hardening and export at the end of training"))


@attrs.define
class DataConfig:
    """The ``[data]`` table: a dataset by name, its parameters, batching and the split."""

    type: str = attrs.field(default="poisson_patterns", metadata=_doc("dataset name"))
    batch_size: int = attrs.field(default=32, metadata=_doc("samples per batch"))
    test_fraction: float = attrs.field(default=0.2, metadata=_doc("held-out share, in [0, 1)"))
    params: dict[str, Any] = attrs.field(factory=dict, metadata=_doc(
        "every other key of [data]: the dataset's parameters"))


@attrs.define
class TrainConfig:
    """The ``[train]`` table: the training loop."""

    epochs: int = attrs.field(default=10, metadata=_doc("passes over the training data"))
    loss: str = attrs.field(default="cross_entropy", metadata=_doc(
        "read-out: cross_entropy / spike_count (counts * loss_scale as logits), membrane_max / "
        "membrane_mean (output membrane over time as logits), population_mse, or rate_mse "
        "(output rates to target rates, e.g. the rate_pattern dataset; the run's accuracy is "
        "then their correlation)"))
    loss_scale: float = attrs.field(default=1.0, metadata=_doc(
        "logit scale of the cross-entropy read-outs; factor of the rate_mse loss"))
    num_classes: int | None = attrs.field(default=None, metadata=_doc(
        "classes, for population read-out; None: one output per class"))
    weight_magnitude: float = attrs.field(default=0.0, metadata=_doc(
        "weight of weight_magnitude_loss (needs a chip)"))
    topology: float = attrs.field(default=0.0, metadata=_doc("weight of topology_loss (needs a chip)"))
    progress: bool = attrs.field(default=True, metadata=_doc("show a progress bar"))
    device: str = attrs.field(default="cpu", metadata=_doc(
        "auto, cpu, cuda, cuda:N or mps (auto: cuda, else mps, else cpu; under torchrun "
        "LOCAL_RANK picks the GPU)"))
    bf16: bool = attrs.field(default=False, metadata=_doc("bfloat16 autocast in the forward pass"))
    clip_grad_norm: float | None = attrs.field(default=None, metadata=_doc(
        "clip the gradients' total 2-norm to this value; None: no clipping"))
    early_stopping: int | None = attrs.field(default=None, metadata=_doc(
        "stop after this many epochs without a better test accuracy (or loss); None: never"))
    tensorboard: bool = attrs.field(default=False, metadata=_doc(
        "also log the metrics to <out>/tensorboard (needs the tensorboard package)"))
    mismatch_draws: int = attrs.field(default=5, metadata=_doc(
        "with a chip: mismatch samples the hardened model is tested on in the end-of-run "
        "fidelity report; 0: none"))


@attrs.define
class SignAnnealingConfig:
    """Sign annealing (nwave_core.optim.SignAnnealing): weights whose sign blocks harden
    progressively, stepped once per epoch over the run."""

    alpha_start: float = attrs.field(default=0.5, metadata=_doc(
        "alpha at epoch 1: the sharpness of each block's soft sign tanh(alpha * logit)"))
    alpha_end: float = attrs.field(default=10.0, metadata=_doc(
        "alpha at the last epoch (train.epochs), reached exactly; from then on every block "
        "has one sign"))
    policy: str = attrs.field(default="exp", metadata=_doc(
        "the policy (a registry name) that moves alpha from alpha_start to alpha_end"))
    fix_signs_at: int | None = attrs.field(default=None, metadata=_doc(
        "from this epoch on the block signs are fixed and only magnitudes train; None: anneal "
        "to the end"))


#: the initialisations an [init] table can ask for
INIT_METHODS: tuple[str, ...] = ("fluct", "uniform")


@attrs.define
class InitConfig:
    """Chip-aware initialisation of the model before training (nwave_core.init)."""

    method: str = attrs.field(default="fluct", metadata=_doc(
        "'fluct': fluct_init (each neuron's free membrane xi standard deviations below "
        "threshold); 'uniform': init_weights (uniform, legal, sign-coherent)"))
    xi_target: float = attrs.field(default=2.0, metadata=_doc("fluct: the target xi"))
    alpha: float = attrs.field(default=1.0, metadata=_doc(
        "fluct: share of the membrane variance from feed-forward weights (the rest: recurrent)"))
    frontend_rate: float | None = attrs.field(default=None, metadata=_doc(
        "also set the frontend gains for this firing rate (spikes per step); None: leave them"))
    samples: int = attrs.field(default=64, metadata=_doc(
        "training samples the statistics are measured on"))


@attrs.define
class ExperimentConfig:
    """A whole experiment: model, data, training, optimizer and schedules."""

    model: ModelConfig = attrs.field(metadata=_doc("the network: layers, surrogate and chip"))
    data: DataConfig = attrs.field(factory=DataConfig, metadata=_doc(
        "the dataset and how it is batched and split"))
    train: TrainConfig = attrs.field(factory=TrainConfig, metadata=_doc(
        "the training loop: epochs, loss, device, stopping"))
    optimizer: Component = attrs.field(factory=lambda: Component("Adam", {"lr": 1e-3}),
                                       metadata=_doc("the optimizer: a torch.optim class or "
                                                     "pulsed_sgd, and its keyword arguments"))
    lr_schedule: Component | None = attrs.field(default=None, metadata=_doc(
        "a torch.optim.lr_scheduler class, stepped once per epoch; None: a constant lr"))
    schedulers: list[Component] = attrs.field(factory=list, metadata=_doc(
        "nwave schedulers (registry kind scheduler) on the model, stepped once per epoch"))
    sign_annealing: SignAnnealingConfig | None = attrs.field(default=None, metadata=_doc(
        "train sign blocks by annealing (needs a chip with sign blocks); None: off"))
    init: InitConfig | None = attrs.field(default=None, metadata=_doc(
        "chip-aware initialisation before training; None: the layers' own initialisation"))
    seed: int = attrs.field(default=0, metadata=_doc(
        "seeds the model, the data and the mismatch draws"))
    out: str = attrs.field(default="runs/experiment", metadata=_doc(
        "the run folder: checkpoints, metrics, the filled config, the export"))
    requires: list[str] = attrs.field(factory=list, metadata=_doc(
        "distributions the config needs, as pip requirements ('nwave-acme>=1.2'); checked "
        "before anything else"))


# -- structuring with strict scalar types ------------------------------------------------------

#: the keys of [data] that are not parameters of the dataset
_DATA_KEYS = ("type", "batch_size", "test_fraction")


def _strict(kind: type) -> Callable[[Any, type], Any]:
    def structure(value: Any, _type: type) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value
    return structure


def _make_converter() -> cattrs.Converter:
    converter = _plain_converter()

    def component(value: Any, _type: type) -> Component:
        if not isinstance(value, Mapping):
            if isinstance(value, str):  # shorthand: surrogate = "atan"
                return Component(value, {})
            raise TypeError(f"expected a table with a 'type' key, got {type(value).__name__}")
        if "type" not in value:
            raise KeyError("type")
        params = {k: v for k, v in value.items() if k != "type"}
        return Component(converter.structure(value["type"], str), params)

    def data(value: Any, _type: type) -> DataConfig:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a table, got {type(value).__name__}")
        fixed = {k: value[k] for k in _DATA_KEYS if k in value}
        params = {k: v for k, v in value.items() if k not in fixed}
        return attrs.evolve(_PLAIN.structure(fixed, DataConfig), params=params)

    converter.register_structure_hook(Component, component)
    converter.register_structure_hook(DataConfig, data)

    def unstructure_component(c: Component) -> dict[str, Any]:
        return {"type": c.type, **c.params}

    def unstructure_data(d: DataConfig) -> dict[str, Any]:
        return {"type": d.type, "batch_size": d.batch_size, "test_fraction": d.test_fraction,
                **d.params}

    converter.register_unstructure_hook(Component, unstructure_component)
    converter.register_unstructure_hook(DataConfig, unstructure_data)
    return converter


def _plain_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    for kind in (int, float, str, bool):
        converter.register_structure_hook(kind, _strict(kind))
    return converter


_PLAIN = _plain_converter()  # the fixed keys of [data]
_CONVERTER = _make_converter()


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        names = list(_DATA_KEYS) if exc.cl is DataConfig else [f.name for f in attrs.fields(exc.cl)]
        parts = []
        for key in sorted(exc.extra_fields):
            parts.append(f"unknown key {key!r}.{did_you_mean(key, names)} Allowed keys: "
                         f"{', '.join(names)}{_AT_KEY}{key}")
        return _NEXT.join(parts)  # split by _at_the_key, so each points at its key
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, TypeError) and str(exc).startswith("expected"):
        return f"wrong type: {exc}"
    return f"invalid value: {exc}"


_AT_KEY, _NEXT = "\x00", "\x01"


def _at_the_key(error: str) -> list[str]:
    """cattrs reports unknown keys at their table; point each at the key itself."""
    if _AT_KEY not in error:
        return [error]
    text, path = error.rsplit(" @ ", 1)
    located = []
    for part in text.split(_NEXT):
        message, key = part.split(_AT_KEY)
        located.append(f"{message} @ {path}.{key}")
    return located


# -- loading ---------------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config and check all of it.

    Args:
        path: the config file.
        overrides: ``"key.path=value"`` settings applied to the file's contents before the
            checks (see [`apply_overrides`][nwave_core.config.apply_overrides]), such as
            ``"train.epochs=3"``.

    Raises:
        ConfigError: every problem at once, each with its path.
    """
    raw = read_config(path)
    return parse_config(apply_overrides(raw, overrides, source=str(path)), source=str(path))


def apply_overrides(raw: Any, overrides: Sequence[str], source: str = "config") -> Any:
    """``raw`` with each ``"key.path=value"`` set: ``train.epochs=3``,
    ``model.layers[1].n_neurons=32``, ``model.surrogate.type=atan``.

    The value is read as a TOML value (``3``, ``0.5``, ``true``, ``"text"``, ``[0.9, 0.99]``,
    ``{type = "atan"}``); anything else is taken as a string. Missing tables are created.
    The result is checked like the file itself, so a wrong type is reported at its path.

    Raises:
        ConfigError: an override without ``=``, or a path that runs through a non-table or
            past the end of a list.
    """
    import copy

    if not overrides:
        return raw
    raw = copy.deepcopy(raw) if isinstance(raw, Mapping) else raw
    errors = []
    for text in overrides:
        key, sep, value_text = text.partition("=")
        steps = _override_steps(key.strip()) if sep else None
        if not steps:
            errors.append(f"an override must look like key.path=value (e.g. train.epochs=3), "
                          f"got {text!r} @ --set")
            continue
        where = "$"
        target = raw
        for step, following in zip(steps, [*steps[1:], None]):
            label = f"{where}[{step}]" if isinstance(step, int) else f"{where}.{step}"
            if following is None:
                try:
                    if isinstance(step, int):
                        target[step] = _override_value(value_text)
                    elif isinstance(target, dict):
                        target[step] = _override_value(value_text)
                    else:
                        raise TypeError
                except (IndexError, TypeError, KeyError):
                    errors.append(f"cannot set {key.strip()!r}: {where} is not a table with that "
                                  f"key or a list that long @ {label}")
                break
            try:
                if isinstance(step, int):
                    target = target[step]
                elif isinstance(target, dict):
                    target = target.setdefault(step, [] if isinstance(following, int) else {})
                else:
                    raise TypeError
            except (IndexError, TypeError, KeyError):
                errors.append(f"cannot set {key.strip()!r}: {where} is not a table with that "
                              f"key or a list that long @ {label}")
                break
            where = label
    if errors:
        raise ConfigError(errors, source)
    return raw


_STEP = re.compile(r"([A-Za-z_][\w-]*)((?:\[\d+\])*)")


def _override_steps(key: str) -> list[str | int] | None:
    """``"model.layers[1].n_neurons"`` -> ``["model", "layers", 1, "n_neurons"]``."""
    steps: list[str | int] = []
    for part in key.split("."):
        match = _STEP.fullmatch(part)
        if match is None:
            return None
        steps.append(match.group(1))
        steps += [int(i) for i in re.findall(r"\[(\d+)\]", match.group(2))]
    return steps


def _override_value(text: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return text.strip()  # a bare word: a string (surrogate.type=atan)


def read_config(path: str | Path) -> Any:
    """The raw contents (dicts and lists) of a TOML or YAML config file, unchecked.

    Raises:
        ConfigError: no such file, or not valid TOML / YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"no such file: {path}"], str(path))
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(["YAML configs need PyYAML: pip install 'nwave-snn[yaml]'"], str(path)) from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([f"not valid YAML: {exc}"], str(path)) from None
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"not valid TOML: {exc}"], str(path)) from None
    return raw


def parse_config(raw: Any, source: str = "config") -> ExperimentConfig:
    """Structure and check a config given as a dict (as read from TOML or YAML).

    Each top-level section is structured on its own, so a type error in one section does not
    hide the problems of the others; the checks then run on every section that structured.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError([f"the config must be a table (mapping), got {type(raw).__name__} @ $"], source)
    fields = {f.name: f for f in attrs.fields(attrs.resolve_types(ExperimentConfig))}
    errors = [f"unknown key {key!r}.{did_you_mean(key, fields)} Allowed keys: "
              f"{', '.join(fields)} @ $.{key}" for key in raw if key not in fields]
    values: dict[str, Any] = {}
    failed: list[str] = []
    for name, field in fields.items():
        if name not in raw:
            if field.default is attrs.NOTHING:
                errors.append(f"required key missing @ $.{name}")
                failed.append(name)
            continue
        try:
            values[name] = _CONVERTER.structure(raw[name], field.type)
        except Exception as exc:  # cattrs groups every structuring error of the section
            for error in cattrs.transform_error(exc, path=f"$.{name}",
                                                format_exception=_format_exception):
                errors.extend(_at_the_key(error))
            failed.append(name)
    if "model" not in values:
        values["model"] = ModelConfig(layers=[])
    config = ExperimentConfig(**values)
    for problem in check_config(config):
        path = problem.rsplit(" @ ", 1)[-1]
        if not any(path == f"$.{n}" or path.startswith((f"$.{n}.", f"$.{n}[")) for n in failed):
            errors.append(problem)
    if errors:
        raise ConfigError(errors, source)
    return config


# -- checks beyond types ----------------------------------------------------------------------------


def _lookup(kind: str, name: str, path: str, errors: list[str]) -> Any:
    from . import registry
    from .errors import DuplicateNameError, UnknownNameError

    try:
        return registry(kind).get(name)
    except (UnknownNameError, DuplicateNameError) as exc:  # unknown, or disabled by a clash
        errors.append(f"{exc} @ {path}")
        return None


def _check_params(params: Mapping[str, Any], accepted: list[ParamInfo], label: str, path: str,
                  errors: list[str], *, provided: tuple[str, ...] = (),
                  var_keyword: bool = False) -> None:
    names = [p.name for p in accepted]
    if not var_keyword:
        for key in params:
            if key not in names:
                errors.append(f"{label} has no parameter {key!r}.{did_you_mean(key, names)} "
                              f"Accepted: {', '.join(names) or '(none)'} @ {path}.{key}")
    for p in accepted:
        if p.required and p.name not in params and p.name not in provided:
            errors.append(f"{label} needs parameter {p.name!r} @ {path}")


def _registry_params(kind: str, name: str) -> tuple[list[ParamInfo], bool]:
    from . import registry
    from .entry import accepts_any_keyword

    reg = registry(kind)
    return list(reg.describe(name).params), accepts_any_keyword(reg.get(name))


def _callable_params(target: Callable[..., Any], skip: int = 0) -> tuple[list[ParamInfo], bool]:
    signature = inspect.signature(target)
    params = list(signature.parameters.values())[skip:]
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    return ([ParamInfo(p.name, p.default) for p in params
             if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)], var_kw)


def _torch_class(module: Any, name: str, base: type, path: str, what: str,
                 errors: list[str]) -> Any:
    classes = {n: c for n, c in vars(module).items()
               if inspect.isclass(c) and issubclass(c, base) and c is not base and not n.startswith("_")}
    by_lower = {n.lower(): c for n, c in classes.items()}
    found = by_lower.get(name.strip().lower())
    if found is None:
        errors.append(f"unknown {what} {name!r}.{did_you_mean(name, classes)} Available: "
                      f"{', '.join(sorted(classes))} @ {path}.type")
    return found


def _check_number(value: Any, path: str, errors: list[str], *, minimum: float,
                  inclusive: bool = True, maximum: float | None = None,
                  max_inclusive: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(f"wrong type: expected a number, got {type(value).__name__} {value!r} @ {path}")
        return
    low_ok = value >= minimum if inclusive else value > minimum
    high_ok = maximum is None or (value <= maximum if max_inclusive else value < maximum)
    if not (low_ok and high_ok and math.isfinite(value)):
        low = f"{'>=' if inclusive else '>'} {minimum:g}"
        high = "" if maximum is None else f" and {'<=' if max_inclusive else '<'} {maximum:g}"
        errors.append(f"out of range: must be {low}{high}, got {value!r} @ {path}")


def check_config(config: ExperimentConfig) -> list[str]:
    """Every problem of a structured config beyond types: names, parameters, ranges, plugins."""
    import torch

    errors: list[str] = []
    _check_requires(config.requires, errors)
    _check_number(config.seed, "$.seed", errors, minimum=0)

    model = config.model
    if not model.layers:
        errors.append("the model needs at least one layer @ $.model.layers")
    if model.surrogate is not None:
        if _lookup("surrogate", model.surrogate.type, "$.model.surrogate.type", errors):
            params, var_kw = _registry_params("surrogate", model.surrogate.type)
            _check_params(model.surrogate.params, params, f"surrogate {model.surrogate.type!r}",
                          "$.model.surrogate", errors, var_keyword=var_kw)
    if model.chip is not None and _lookup("chip", model.chip.type, "$.model.chip.type", errors):
        from attrs import fields

        from .chip import ChipSpec

        _check_params(model.chip.params, [ParamInfo(f.name, f.default) for f in fields(ChipSpec)
                                          if f.name != "name"],
                      f"chip {model.chip.type!r}", "$.model.chip", errors)
    for i, layer in enumerate(model.layers):
        path = f"$.model.layers[{i}]"
        if _lookup("layer", layer.type, f"{path}.type", errors):
            params, var_kw = _registry_params("layer", layer.type)
            _check_params(layer.params, params, f"layer {layer.type!r}", path, errors,
                          var_keyword=var_kw)
            spike_grad = layer.params.get("spike_grad")
            if isinstance(spike_grad, Mapping) or isinstance(spike_grad, str):
                name = spike_grad if isinstance(spike_grad, str) else spike_grad.get("type", "")
                _lookup("surrogate", name, f"{path}.spike_grad", errors)

    data = config.data
    if _lookup("dataset", data.type, "$.data.type", errors):
        params, var_kw = _registry_params("dataset", data.type)
        _check_params(data.params, params, f"dataset {data.type!r}", "$.data", errors,
                      var_keyword=var_kw)
    _check_number(data.batch_size, "$.data.batch_size", errors, minimum=1)
    _check_number(data.test_fraction, "$.data.test_fraction", errors, minimum=0, maximum=1)

    train = config.train
    _check_number(train.epochs, "$.train.epochs", errors, minimum=1)
    if train.loss not in LOSSES:
        errors.append(f"unknown loss {train.loss!r}.{did_you_mean(train.loss, LOSSES)} Available: "
                      f"{', '.join(LOSSES)} @ $.train.loss")
    if train.loss == "population_mse" and train.num_classes is None:
        errors.append("the population_mse loss needs num_classes @ $.train.num_classes")
    _check_number(train.num_classes, "$.train.num_classes", errors, minimum=1)
    _check_number(train.loss_scale, "$.train.loss_scale", errors, minimum=0, inclusive=False)
    _check_number(train.weight_magnitude, "$.train.weight_magnitude", errors, minimum=0)
    _check_number(train.topology, "$.train.topology", errors, minimum=0)
    _check_number(train.clip_grad_norm, "$.train.clip_grad_norm", errors, minimum=0,
                  inclusive=False)
    _check_number(train.early_stopping, "$.train.early_stopping", errors, minimum=1)
    _check_number(train.mismatch_draws, "$.train.mismatch_draws", errors, minimum=0)
    if not _DEVICE.fullmatch(train.device.strip().lower()):
        errors.append(f"unknown device {train.device!r}: use auto, cpu, cuda, cuda:N (N a GPU "
                      f"index) or mps @ $.train.device")
    needs_chip = train.weight_magnitude > 0 or train.topology > 0 or config.sign_annealing
    if needs_chip and model.chip is None and not _has_chip_layers(model):
        errors.append("hardware losses and sign annealing need a chip: set model.chip or use "
                      "chip layers @ $.model.chip")

    from .optim.optimizers import optimizer_namespace

    optimizer = _torch_class(optimizer_namespace(), config.optimizer.type, torch.optim.Optimizer,
                             "$.optimizer", "optimizer", errors)
    if optimizer is not None:
        params, var_kw = _callable_params(getattr(optimizer, "for_model", optimizer), skip=1)
        _check_params(config.optimizer.params, params, f"optimizer {config.optimizer.type!r}",
                      "$.optimizer", errors, var_keyword=var_kw)
        errors.extend(getattr(optimizer, "check_params", lambda _: [])(config.optimizer.params))
        _check_number(config.optimizer.params.get("lr"), "$.optimizer.lr", errors, minimum=0,
                      inclusive=False)
    if config.lr_schedule is not None:
        base = torch.optim.lr_scheduler.LRScheduler
        sched = _torch_class(torch.optim.lr_scheduler, config.lr_schedule.type,
                             (base, torch.optim.lr_scheduler.ReduceLROnPlateau),  # type: ignore[arg-type]
                             "$.lr_schedule", "lr_schedule", errors)
        if sched is not None:
            params, var_kw = _callable_params(sched, skip=1)
            _check_params(config.lr_schedule.params, params, f"lr_schedule "
                          f"{config.lr_schedule.type!r}", "$.lr_schedule", errors,
                          var_keyword=var_kw)

    for i, sched in enumerate(config.schedulers):
        path = f"$.schedulers[{i}]"
        if _lookup("scheduler", sched.type, f"{path}.type", errors):
            params, var_kw = _registry_params("scheduler", sched.type)
            _check_params(sched.params, params, f"scheduler {sched.type!r}", path, errors,
                          provided=("target",), var_keyword=var_kw)
            if "target" in sched.params:
                errors.append(f"the scheduler's target is the model; remove 'target' @ {path}.target")
            if "policy" in sched.params:
                _lookup("policy", str(sched.params["policy"]), f"{path}.policy", errors)
    if config.sign_annealing is not None:
        sa = config.sign_annealing
        _lookup("policy", sa.policy, "$.sign_annealing.policy", errors)
        _check_number(sa.alpha_start, "$.sign_annealing.alpha_start", errors, minimum=0, inclusive=False)
        _check_number(sa.alpha_end, "$.sign_annealing.alpha_end", errors, minimum=0, inclusive=False)
        _check_number(sa.fix_signs_at, "$.sign_annealing.fix_signs_at", errors, minimum=1)
    if config.init is not None:
        init = config.init
        if init.method not in INIT_METHODS:
            errors.append(f"unknown init method {init.method!r}."
                          f"{did_you_mean(str(init.method), INIT_METHODS)} Available: "
                          f"{', '.join(INIT_METHODS)} @ $.init.method")
        _check_number(init.xi_target, "$.init.xi_target", errors, minimum=0, inclusive=False)
        _check_number(init.alpha, "$.init.alpha", errors, minimum=0, inclusive=False, maximum=1,
                      max_inclusive=True)
        _check_number(init.frontend_rate, "$.init.frontend_rate", errors, minimum=0,
                      inclusive=False, maximum=1)
        _check_number(init.samples, "$.init.samples", errors, minimum=1)
    from .binding import check_values

    check_values(config, errors)  # the values inside each table, and the cross-checks
    return errors


def _has_chip_layers(model: ModelConfig) -> bool:
    from . import registry

    reg = registry("layer")
    for layer in model.layers:
        if layer.type in reg and getattr(reg.get(layer.type).factory, "default_chip", None):
            return True
        if "chip" in layer.params:
            return True
    return False


def _check_requires(requires: list[str], errors: list[str]) -> None:
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    for i, text in enumerate(requires):
        path = f"$.requires[{i}]"
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            errors.append(f"not a requirement: {exc} @ {path}")
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            errors.append(f"the config needs {text!r}, which is not installed: "
                          f"pip install '{text}' @ {path}")
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            errors.append(f"the config needs {text!r}, but {requirement.name} {version} is "
                          f"installed: pip install '{text}' @ {path}")


# -- writing ------------------------------------------------------------------------------------------


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """The config as plain data (``None`` entries dropped), ready for TOML."""
    return _drop_none(_CONVERTER.unstructure(config))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value


def fill_config(config: ExperimentConfig) -> ExperimentConfig:
    """A copy with every default written out: each layer's, surrogate's, scheduler's and the
    dataset's parameters, so the file alone says everything the run used."""
    from .data import data_bin_s

    def filled(kind: str, component: Component, skip: tuple[str, ...] = (),
               **effective: Any) -> Component:
        params, _ = _registry_params(kind, component.type)
        values = {p.name: p.default for p in params
                  if not p.required and p.name not in skip and _plain(p.default)}
        values.update({k: v for k, v in effective.items() if k in values and v is not None})
        values.update(component.params)
        return Component(component.type, values)

    model = config.model
    dt = data_bin_s(config.data.type, config.data.params)  # build() steps layers at the bin
    layers = [filled("layer", layer, skip=("spike_grad",), dt=dt) for layer in model.layers]
    surrogate = filled("surrogate", model.surrogate) if model.surrogate else None
    schedulers = [filled("scheduler", s, skip=("target",)) for s in config.schedulers]
    for filled_scheduler, own in zip(schedulers, config.schedulers):
        if "total_steps" in filled_scheduler.params and "total_steps" not in own.params:
            filled_scheduler.params["total_steps"] = config.train.epochs  # the run's length
    data_params, _ = _registry_params("dataset", config.data.type)
    # a dataset parameter named like a key of [data] itself (test_fraction) is that key; tuples
    # are written as the lists TOML reads back
    defaults = {p.name: list(p.default) if isinstance(p.default, tuple) else p.default
                for p in data_params
                if not p.required and _plain(p.default) and p.name not in _DATA_KEYS}
    if "seed" in defaults:
        defaults["seed"] = config.seed  # what build() gives a dataset that takes a seed
    data = attrs.evolve(config.data, params={**defaults, **config.data.params})
    return attrs.evolve(config, model=attrs.evolve(model, layers=layers, surrogate=surrogate),
                        schedulers=schedulers, data=data)


def _plain(value: Any) -> bool:
    """Representable in TOML (None is left out: an absent key means the default)."""
    if isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def dump_toml(config: ExperimentConfig) -> str:
    """The config as TOML text."""
    import tomli_w

    data = config_to_dict(config)
    return tomli_w.dumps(_tuples_to_lists(data))


def dump_yaml(config: ExperimentConfig) -> str:
    """The config as YAML text (needs PyYAML)."""
    try:
        import yaml
    except ImportError:
        raise ConfigError(["writing YAML needs PyYAML: pip install 'nwave-snn[yaml]'"]) from None
    return yaml.safe_dump(_tuples_to_lists(config_to_dict(config)), sort_keys=False)


def _tuples_to_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tuples_to_lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tuples_to_lists(v) for v in value]
    return value

