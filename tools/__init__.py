"""Tools around the service, outside its runtime package: corpus generation, evaluation, benchmarks."""
