"""`python -m edge.cli …`: the `hallops` program, for tests, benchmarks and scripts that start it with this Python."""

from edge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
