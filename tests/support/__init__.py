"""Test infrastructure shared by netviz's test folders: real tools, started and always stopped.

- `prometheus`: a real Prometheus server (Debian's 2.42) and `promtool`.
- `netflow`: real NetFlow v9 from real traffic between network-namespace hosts (softflowd), decoded
  by a test-side stand-in for GoFlow2 into GoFlow2 JSON lines, with the truth computed from the pcap.
- `fixtures`: pytest fixtures over both (import them into a conftest.py).

A missing tool fails the test with a message naming it (`ToolMissing`); nothing here skips.
"""
