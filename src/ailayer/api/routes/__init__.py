"""HTTP routes, one module per resource. Each route parses, calls a service, formats."""
