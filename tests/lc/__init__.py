"""Tests of the LangChain integration (a package, so module names cannot clash with other suites)."""
