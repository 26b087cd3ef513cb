"""HTTP routes, one module per area; each only parses, calls the core and renders."""
