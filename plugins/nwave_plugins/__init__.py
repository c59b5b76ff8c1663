"""nwave's built-in plugins. Each module registers through the ``nwave.plugins`` entry-point
group, exactly as a third-party plugin would, and imports only the public ``nwave_core`` API."""
