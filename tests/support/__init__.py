"""Helpers shared by the test suites: free ports, the daemon as a process, brokers."""
