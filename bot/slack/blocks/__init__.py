"""Block Kit builders, one module per surface: pure `build_*` functions."""
