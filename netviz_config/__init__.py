"""netviz's one description of the user's network: `load()` it, then read it.

Standard library only, so the flow exporter can import it inside a stock Python image."""

from .loader import DEFAULT_PATH, ENV_VAR, ConfigError, config_path, load, parse
from .schema import NetworkConfig

__all__ = ["ConfigError", "NetworkConfig", "load", "parse", "config_path", "DEFAULT_PATH", "ENV_VAR"]
