"""Cost: measured usage per tenant, endpoint and model version, priced by the settings'
price table (accounting), and a deployment advisor from an endpoint's traffic."""
