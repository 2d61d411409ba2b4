"""Measurement and data-generation tools: run from the checkout, never shipped in the service's image."""
