"""The HTTP face: ``quco serve`` (risk API and OpenAI-compatible proxy), installed as ``quco.serve``."""
