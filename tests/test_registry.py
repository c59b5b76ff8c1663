"""Registries: lookup, normalization, aliases, clashes, unknown names, describe, create."""

from __future__ import annotations

import inspect

import attrs
import pytest

import nwave_core
from nwave_core.host import BUILTIN_DISTRIBUTION
from nwave_core import DuplicateNameError, Entry, Provider, Registry, UnknownNameError


def _entry(name, factory=dict, aliases=(), plugin="p", dist="dist-a", version="1.0"):
    return attrs.evolve(Entry(name, factory, aliases=aliases), provider=Provider(plugin, dist, version))


def test_every_kind_has_a_registry():
    assert nwave_core.KINDS == ("surrogate", "policy", "layer", "scheduler", "chip", "constraint",
                                "dataset", "device")
    for kind in nwave_core.KINDS:
        assert isinstance(nwave_core.registry(kind), Registry)


def test_lookup_normalizes_case_and_whitespace_and_follows_aliases():
    reg = nwave_core.registry("surrogate")
    assert reg.get("  ATan ") is reg.get("atan") is reg.get("ArcTan")
    assert "FAST_SIGMOID" in reg and " arctan" in reg
    assert "nope" not in reg and 3 not in reg


def test_names_iteration_and_len():
    reg = nwave_core.registry("policy")
    builtin = [entry.name for entry in reg if entry.provider.distribution == BUILTIN_DISTRIBUTION]
    assert builtin == ["constant", "cosine", "exp", "linear", "step"]
    assert reg.names() == sorted(reg.names()) and set(builtin) <= set(reg.names())
    assert [entry.name for entry in reg] == reg.names()
    assert len(reg) == len(reg.names())
    assert all(isinstance(entry, Entry) for entry in reg)


def test_unknown_name_message_has_suggestion_and_available_names():
    with pytest.raises(UnknownNameError) as info:
        nwave_core.registry("policy").get("cosin")
    assert str(info.value) == (
        "unknown policy 'cosin'. Did you mean 'cosine'? "
        f"Available: {', '.join(nwave_core.registry('policy').names())}."
    )
    assert isinstance(info.value, LookupError)
    assert info.value.kind == "policy" and info.value.name == "cosin"
    assert info.value.suggestions == ("cosine",)


def test_unknown_name_without_close_match_lists_available_names():
    with pytest.raises(UnknownNameError, match=r"^unknown policy 'zzz'\. Available: .*constant, "):
        nwave_core.registry("policy").get("zzz")


def test_unknown_kind_is_reported_with_suggestion():
    with pytest.raises(UnknownNameError) as info:
        nwave_core.registry("surrogates")
    assert str(info.value) == (
        "unknown kind 'surrogates'. Did you mean 'surrogate'? "
        "Available: surrogate, policy, layer, scheduler, chip, constraint, dataset, device."
    )


def test_clash_names_both_providers():
    reg = Registry("surrogate")
    reg.add(_entry("atan", plugin="nwave.surrogates", dist="nwave", version="0.1.0"))
    with pytest.raises(DuplicateNameError) as info:
        reg.add(_entry("ATAN", factory=list, plugin="clash", dist="nwave-clash", version="2.0.0"))
    assert str(info.value) == (
        "surrogate name 'atan' is provided twice: by nwave 0.1.0 (plugin 'nwave.surrogates') "
        "and by nwave-clash 2.0.0 (plugin 'clash'). Uninstall one of them or block one with "
        "NWAVE_DISABLE_PLUGINS=clash (or --disable-plugin clash)."
    )


def test_contained_clash_disables_both_entries_names_and_aliases_only():
    reg = Registry("surrogate")
    reg.add(_entry("atan", aliases=("arctan",), plugin="nwave.surrogates", dist="nwave"))
    reg.add(_entry("sigmoid", factory=tuple, plugin="nwave.surrogates", dist="nwave"))
    message = reg.add_contained(_entry("ATAN", factory=list, plugin="clash", dist="nwave-clash"))
    assert message.startswith("surrogate name 'atan' is provided twice: by nwave 1.0 (plugin "
                              "'nwave.surrogates') and by nwave-clash 1.0 (plugin 'clash').")
    assert message.endswith("Until then, surrogate 'arctan', 'atan' are disabled; everything "
                            "else works.")
    assert reg.names() == ["sigmoid"] and "atan" not in reg
    for name in ("atan", "ArcTan"):
        with pytest.raises(DuplicateNameError, match="provided twice: by nwave 1.0"):
            reg.get(name)
    assert reg.add_contained(_entry("relu", factory=set)) is None
    assert reg.names() == ["relu", "sigmoid"]
    with pytest.raises(DuplicateNameError, match=r"^dist-a 1.0 \(plugin 'p'\) also provides "
                                                 r"surrogate name 'atan', which is disabled"):
        reg.add(_entry("atan", factory=frozenset))


def test_unknown_name_mentions_blocked_plugins():
    reg = Registry("policy", blocked=("'nwave.policies' (nwave 0.1.0)",))
    with pytest.raises(UnknownNameError) as info:
        reg.get("linear")
    assert str(info.value) == (
        "unknown policy 'linear'. Available: (none registered). Blocked plugins "
        "(NWAVE_DISABLE_PLUGINS or --disable-plugin), which may provide it: "
        "'nwave.policies' (nwave 0.1.0).")


def test_alias_clashes_with_a_name():
    reg = Registry("chip")
    reg.add(_entry("h1", dist="a"))
    with pytest.raises(DuplicateNameError, match="chip name 'h1' is provided twice"):
        reg.add(_entry("other", factory=list, aliases=("H1",), dist="b"))


def test_reregistering_the_identical_entry_is_a_no_op():
    reg = Registry("policy")
    reg.add(_entry("linear", aliases=("lin",)))
    reg.add(_entry("linear", aliases=("lin",), plugin="again"))
    assert reg.names() == ["linear"]


def test_entry_rejects_blank_names_and_non_callables():
    with pytest.raises(ValueError, match="non-empty string"):
        Entry("  ", dict)
    with pytest.raises(ValueError, match="surrounding whitespace"):
        Entry(" atan", dict)
    with pytest.raises(TypeError, match="callable"):
        Entry("x", 3)
    with pytest.raises(TypeError, match="attrs class"):
        Entry("x", dict, params=dict)


def test_describe_reports_provider_params_defaults_and_docs():
    info = nwave_core.registry("surrogate").describe("arctan")
    assert info.name == "atan" and info.kind == "surrogate"
    assert info.provider == Provider("nwave.surrogates", "nwave-snn", nwave_core.__version__)
    assert info.aliases == ("arctan",)
    alpha = info.params[0]
    assert (alpha.name, alpha.default, alpha.required) == ("alpha", 2.0, False)
    assert "peak" in alpha.doc
    assert [p.name for p in info.params] == ["alpha", "spiking", "learnable"]


def test_create_builds_with_parameters():
    surrogate = nwave_core.create("surrogate", "fast_sigmoid", slope=10.0)
    assert surrogate.param_value == 10.0
    policy = nwave_core.create("policy", "linear")
    assert policy.value(5, 0.0, 1.0, 10) == 0.5


def test_create_rejects_unknown_keyword_listing_accepted_ones():
    with pytest.raises(TypeError) as info:
        nwave_core.create("surrogate", "atan", alpah=2.0)
    assert str(info.value) == (
        "surrogate 'atan' got unexpected parameter 'alpah'. Did you mean 'alpha'? "
        "Accepted parameters: alpha, spiking, learnable."
    )


@attrs.frozen
class _Params:
    width: float = attrs.field(default=1.0, validator=attrs.validators.gt(0),
                               metadata={"doc": "width of the thing"})
    count: int = attrs.field(default=2, metadata={"doc": "how many"})


def test_attrs_params_class_validates_and_documents():
    reg = Registry("layer")
    reg.add(Entry("thing", lambda width, count: (width, count), params=_Params))
    assert reg.create("thing", width=3.0) == (3.0, 2)
    with pytest.raises(ValueError, match="width"):
        reg.create("thing", width=-1.0)
    with pytest.raises(TypeError, match="Accepted parameters: width, count"):
        reg.create("thing", depth=1)
    params = reg.describe("thing").params
    assert [(p.name, p.default, p.doc) for p in params] == [
        ("width", 1.0, "width of the thing"), ("count", 2, "how many")]


def test_required_parameter_is_reported_as_required():
    def factory(size, scale=1.0):
        """Make it.

        Args:
            size: how big, in
                neurons.
            scale: a factor.
        """
        return size * scale

    reg = Registry("layer")
    reg.add(Entry("f", factory))
    size, scale = reg.describe("f").params
    assert size.required and size.default is inspect.Parameter.empty
    assert size.doc == "how big, in neurons."
    assert (scale.default, scale.doc) == (1.0, "a factor.")


def test_factory_with_var_keywords_is_not_keyword_checked():
    reg = Registry("layer")
    reg.add(Entry("kw", lambda **kw: kw))
    assert reg.create("kw", anything=1) == {"anything": 1}
