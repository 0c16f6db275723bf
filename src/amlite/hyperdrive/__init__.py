"""HyperDrive (hyperdrive/v1.0): hyperparameter sweeps. A sweep is a parent run (runType ``hyperdrive``)
whose children are sampled from a parameter space with Optuna, run through the same scheduler as any
run, and stopped early by a termination policy; its whole state is in the store."""
