"""Rollouts: an endpoint's traffic policy (single, A/B, canary, shadow), where it is
kept, how a request picks its variant, and the controller that steps canaries."""
