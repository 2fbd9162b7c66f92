"""The ``embedded`` platform: idmctl's own engine, managed store and scheduler. Only the factory imports it."""

from controller.platforms.embedded._platform import EmbeddedPlatform

__all__ = ["EmbeddedPlatform"]
