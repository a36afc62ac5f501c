"""One router per concern; :mod:`twilight_serve.app` includes them all."""
