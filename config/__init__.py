"""Kejian's settings: environment variables, read once at start-up.

See :mod:`config.settings` for the variables and the README for the table of them.
"""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
