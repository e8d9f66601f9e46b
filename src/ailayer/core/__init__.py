"""Core: ids, clock, errors, settings. Imported by everyone; imports no other ailayer package."""
