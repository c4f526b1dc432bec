"""Training state, compiled steps, loop, checkpoints and figures."""
