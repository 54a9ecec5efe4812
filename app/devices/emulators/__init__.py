"""Our own firmware emulators behind real pseudo-terminals, with fault injection, for tests and benchmarks."""
