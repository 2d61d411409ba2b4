"""Measurement and data-generation tools (corpus, evaluation, benchmarks): run from the checkout, never
shipped in the service's image."""
