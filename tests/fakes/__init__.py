"""The project's own fake services (real HTTP on loopback) used by the tests and benches."""
