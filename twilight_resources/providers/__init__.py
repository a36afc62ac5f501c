"""Quote providers, chosen by capability and market state (see :mod:`.base`).

The AKShare providers live in :mod:`.akshare`, imported from there (not re-exported here: the
AKShare client imports this package's errors).
"""

from twilight_resources.providers.base import (
    BarProvider,
    Capability,
    ProviderRegistry,
    ProviderUnavailableError,
    Quote,
    QuoteProvider,
    UnknownSecurityError,
)

__all__ = [
    "BarProvider",
    "Capability",
    "ProviderRegistry",
    "ProviderUnavailableError",
    "Quote",
    "QuoteProvider",
    "UnknownSecurityError",
]
