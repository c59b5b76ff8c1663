"""The plugin host: entry-point discovery, failures that stay contained, blocking, laziness."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import nwave_core
from nwave_core.host import BUILTIN_DISTRIBUTION
from nwave_core import (
    DuplicateNameError,
    Entry,
    NwavePluginWarning,
    PluginLoadError,
    UnknownNameError,
    hookimpl,
)


def _record(name):
    return next(r for r in nwave_core.plugins() if r.name == name)


def test_builtins_come_through_entry_points():
    records = {r.name: r for r in nwave_core.plugins()}
    assert records["nwave.surrogates"].distribution == "nwave-snn"
    assert records["nwave.surrogates"].status == "loaded"
    provided = records["nwave.surrogates"].provides
    assert list(provided) == ["surrogate"]
    assert provided["surrogate"][:3] == ("atan", "fast_sigmoid", "sigmoid")
    builtin = [e.name for e in nwave_core.registry("surrogate") if e.provider.distribution == BUILTIN_DISTRIBUTION]
    assert sorted(provided["surrogate"]) == builtin
    assert records["nwave.policies"].provides["policy"] == ("constant", "linear", "exp", "cosine", "step")


def test_third_party_distribution_is_discovered(install_fake):
    install_fake("acme")
    chip = nwave_core.create("chip", "ACME-A1")
    assert (chip.name, chip.weight_limit, chip.sign_block) == ("acme", 0.5, 4)
    assert isinstance(chip, nwave_core.ChipTarget)
    surrogate = nwave_core.create("surrogate", "acme_triangle", alpha=2.0)
    assert isinstance(surrogate, nwave_core.Surrogate)
    info = nwave_core.registry("surrogate").describe("acme_triangle")
    assert str(info.provider) == "nwave-acme 1.2.0 (plugin 'acme')"
    record = _record("acme")
    assert (record.distribution, record.version, record.status) == ("nwave-acme", "1.2.0", "loaded")
    assert record.provides == {"surrogate": ("acme_triangle",), "chip": ("acme",)}


def test_broken_plugin_is_named_and_the_others_keep_working(install_fake):
    install_fake("broken", "acme")
    with pytest.warns(NwavePluginWarning) as caught:
        reg = nwave_core.registry("surrogate")
    assert [str(w.message) for w in caught] == [
        "nwave plugin 'broken' (nwave-broken 0.3.0) failed to load and was skipped: "
        "ModuleNotFoundError: No module named 'nwave_missing_dependency'"
    ]
    assert "atan" in reg and "acme_triangle" in reg
    assert _record("broken").status == "failed"


def test_unknown_name_mentions_plugins_that_failed(install_fake):
    install_fake("broken")
    with pytest.warns(NwavePluginWarning):
        reg = nwave_core.registry("chip")
    with pytest.raises(UnknownNameError) as info:
        reg.get("brokenchip")
    assert str(info.value).endswith(
        ". Plugins that failed to load: "
        "'broken' (nwave-broken 0.3.0): ModuleNotFoundError: No module named "
        "'nwave_missing_dependency'."
    )


def test_strict_mode_turns_a_broken_plugin_into_an_error(install_fake, monkeypatch):
    install_fake("broken")
    monkeypatch.setenv("NWAVE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match=r"^nwave plugin 'broken' \(nwave-broken 0.3.0\) failed"):
        nwave_core.registry("surrogate")


_CLASH = (
    f"surrogate name 'atan' is provided twice: by nwave-snn {nwave_core.__version__} "
    "(plugin 'nwave.surrogates') and by nwave-clash 2.0.0 (plugin 'clash'). "
    "Uninstall one of them or block one with NWAVE_DISABLE_PLUGINS=clash "
    "(or --disable-plugin clash)."
)


def test_a_clash_disables_only_the_clashing_name_naming_both_providers(install_fake):
    install_fake("clash")
    with pytest.warns(NwavePluginWarning) as caught:
        policies = nwave_core.registry("policy")
    assert [str(w.message) for w in caught] == [
        _CLASH + " Until then, surrogate 'arctan', 'atan' are disabled; everything else works."]
    assert "linear" in policies
    surrogates = nwave_core.registry("surrogate")
    assert "sigmoid" in surrogates and "atan" not in surrogates
    with pytest.raises(DuplicateNameError) as info:
        nwave_core.create("surrogate", "atan")
    assert str(info.value).startswith(_CLASH)
    assert _record("clash").status == "loaded"
    assert _record("clash").problems == [str(caught[0].message)]


def test_strict_mode_makes_a_clash_fatal(install_fake, monkeypatch):
    install_fake("clash")
    monkeypatch.setenv("NWAVE_STRICT_PLUGINS", "1")
    with pytest.raises(DuplicateNameError) as info:
        nwave_core.registry("policy")
    assert str(info.value) == _CLASH


def test_a_misspelled_blocked_name_is_warned_about(install_fake, monkeypatch):
    install_fake("acme")
    monkeypatch.setenv("NWAVE_DISABLE_PLUGINS", "acmee")
    with pytest.warns(NwavePluginWarning) as caught:
        reg = nwave_core.registry("chip")
    message = str(caught[0].message)
    assert message.startswith("no nwave plugin is named 'acmee', so blocking it "
                              "(NWAVE_DISABLE_PLUGINS or --disable-plugin) does nothing. "
                              "Did you mean 'acme'? Plugins: acme, ")
    assert "acme" in reg  # nothing was blocked


def test_unknown_name_names_the_blocked_provider():
    nwave_core.disable_plugins("nwave.policies")
    with pytest.raises(UnknownNameError) as info:
        nwave_core.create("policy", "linear")
    assert (f"Blocked plugins (NWAVE_DISABLE_PLUGINS or --disable-plugin), which may provide "
            f"it: 'nwave.policies' (nwave-snn {nwave_core.__version__}).") in str(info.value)


def test_blocking_the_clashing_plugin_by_env_resolves_it(install_fake, monkeypatch):
    install_fake("clash")
    monkeypatch.setenv("NWAVE_DISABLE_PLUGINS", "other, clash")
    with pytest.warns(NwavePluginWarning, match="no nwave plugin is named 'other'"):
        reg = nwave_core.registry("surrogate")
    assert reg.get("atan").provider.distribution == "nwave-snn"
    assert _record("clash").status == "blocked"


def test_blocking_by_api_and_unblocking(install_fake):
    install_fake("acme")
    nwave_core.disable_plugins("acme")
    assert "acme" not in nwave_core.registry("chip")
    assert _record("acme").status == "blocked"
    nwave_core.enable_plugins("acme")
    assert "acme" in nwave_core.registry("chip")


def test_blocking_a_builtin_removes_its_entries():
    nwave_core.disable_plugins("nwave.policies")
    assert not any(e.provider.distribution == BUILTIN_DISTRIBUTION for e in nwave_core.registry("policy"))
    assert "linear" not in nwave_core.registry("policy")
    assert "atan" in nwave_core.registry("surrogate")


def test_misspelled_hook_is_reported_with_the_closest_name(install_fake):
    install_fake("typo")
    with pytest.warns(NwavePluginWarning) as caught:
        reg = nwave_core.registry("policy")
    assert [str(w.message) for w in caught] == [
        "nwave plugin 'typo' (nwave-typo 0.1.0): function 'nwave_surrogate' is marked as an "
        "nwave hook but no hook is named 'nwave_surrogate'. Did you mean 'nwave_surrogates' or "
        "'nwave_datasets'? It is ignored. Known hooks: nwave_surrogates, nwave_policies, nwave_layers, "
        "nwave_schedulers, nwave_chips, nwave_constraints, nwave_datasets, nwave_devices."
    ]
    assert "half" in reg  # its correct hook still works
    assert _record("typo").status == "loaded"


def test_misspelled_hook_is_an_error_in_strict_mode(install_fake):
    install_fake("typo")
    nwave_core.plugin_host()._strict = True
    try:
        with pytest.raises(PluginLoadError, match="Did you mean 'nwave_surrogates'"):
            nwave_core.registry("policy")
    finally:
        nwave_core.plugin_host()._strict = None


def _plugin(**hooks):
    module = types.ModuleType("inline_plugin")
    for name, function in hooks.items():
        setattr(module, name, function)
    return module


def test_a_hook_that_raises_skips_that_plugin_only():
    @hookimpl
    def nwave_chips():
        raise RuntimeError("no spec file")

    nwave_core.register_plugin(_plugin(nwave_chips=nwave_chips), "exploding")
    with pytest.warns(NwavePluginWarning) as caught:
        reg = nwave_core.registry("chip")
    assert str(caught[0].message) == (
        "nwave plugin 'exploding' (<registered in code>) failed to load and was skipped: "
        "hook nwave_chips raised RuntimeError: no spec file"
    )
    assert "exploding" not in {e.provider.plugin for e in reg}
    assert "atan" in nwave_core.registry("surrogate")


def test_a_hook_returning_non_entries_is_reported():
    @hookimpl
    def nwave_surrogates():
        return ["atan"]

    nwave_core.register_plugin(_plugin(nwave_surrogates=nwave_surrogates), "sloppy")
    with pytest.warns(NwavePluginWarning, match=r"hook nwave_surrogates returned 'atan' \(str\); "
                                                  r"expected nwave_core.Entry objects"):
        nwave_core.registry("surrogate")
    assert _record("sloppy").status == "failed"


def test_an_unmarked_hook_function_is_reported():
    def nwave_policies():
        return []

    nwave_core.register_plugin(_plugin(nwave_policies=nwave_policies), "unmarked")
    with pytest.warns(NwavePluginWarning, match="function 'nwave_policies' is not marked with "
                                                  r"@nwave_core.hookimpl, so it is ignored"):
        nwave_core.registry("policy")


def test_a_hook_with_wrong_arguments_is_reported():
    @hookimpl
    def nwave_policies(config):
        return []

    nwave_core.register_plugin(_plugin(nwave_policies=nwave_policies), "needs-args")
    with pytest.warns(NwavePluginWarning, match="'needs-args'.*PluginValidationError"):
        nwave_core.registry("policy")


def test_registered_plugin_entries_are_stamped_and_unregister_removes_them():
    class Half(nwave_core.PolicyBase):
        def shape(self, step, start, end, total_steps, **_):
            return start / 2

    @hookimpl
    def nwave_policies():
        return [Entry("half", Half)]

    name = nwave_core.register_plugin(_plugin(nwave_policies=nwave_policies), "mine")
    assert nwave_core.create("policy", "half").value(0, 4.0, 0.0, 10) == 2.0
    assert nwave_core.registry("policy").get("half").provider.plugin == "mine"
    nwave_core.plugin_host().unregister(name)
    assert "half" not in nwave_core.registry("policy")


def test_import_is_cheap_and_loads_no_plugin():
    code = (
        "import sys, nwave_core\n"
        "heavy = [m for m in ('torch', 'nwave_plugins', 'nwave_plugins.surrogates') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert nwave_core.plugin_host()._registries is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_attribute_and_unknown_attribute():
    assert nwave_core.SurrogateBase.__name__ == "SurrogateBase"
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        nwave_core.Nope  # noqa: B018
