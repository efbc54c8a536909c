"""Python helpers of the shell scripts beside them (locks, audit), importable by the tests."""
