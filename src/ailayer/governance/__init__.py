"""Governance: tenants, API keys, roles, audit."""
