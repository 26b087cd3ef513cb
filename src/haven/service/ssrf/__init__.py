"""SSRF-safe URL fetching for ``POST /v1/match/url``."""

from haven.service.ssrf.pool import FetchPool
from haven.service.ssrf.urlfetch import Fetched, FetchPolicy, check_address, fetch_url, parse_host, vet_url

__all__ = ["FetchPolicy", "FetchPool", "Fetched", "check_address", "fetch_url", "parse_host", "vet_url"]
