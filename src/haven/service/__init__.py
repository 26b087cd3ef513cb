"""The matching service: a FastAPI app (``create_app``) with API keys, rate limits, SSRF-safe URL fetch,
upload limits, hot-updated matching, metrics and a small web UI."""
