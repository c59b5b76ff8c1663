"""Namespaces that mirror other libraries' module layouts, so that their scripts run on nwave
with only their import lines changed.

- [`nwave_core.compat.nwavesdk`][nwave_core.compat.nwavesdk]: the original NWAVE SDK (``nwavesdk``).
"""
