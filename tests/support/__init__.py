"""Test infrastructure shared by netviz's test folders: real tools, started and always stopped.

- `prometheus`: a real Prometheus 3 server (built by `go_tools`), `promtool`, and Kubernetes pod discovery
  simulated with file discovery (`swap_kubernetes_sd_for_file_sd`).
- `http`: `MetricsServer`, a scrape target serving exposition text on a free loopback port.
- `netflow`: real NetFlow v9 from real traffic between network-namespace hosts (softflowd), decoded
  by the real GoFlow2 into its JSON lines, with the truth computed from the pcaps.
- `goflow2`: the real GoFlow2, and the goflow2 pod as synthesized run as processes (`CollectorPod`,
  in a network namespace standing in for the pod's), with `NetflowSender` playing softflowd.
- `go_tools`: builds GoFlow2 and Prometheus 3 from their Go modules into .tools/ (make go-tools).
  Built on `netns` (the isolated lab), `traffic` (generators run inside it) and `pcap` (a reader).
- `flood`: a known corpus of flows interleaved with a flood of spoofed external sources, and its truth.
- `fixtures`: pytest fixtures over all of it (tests/conftest.py imports them).
- `tools`: `require_tool`, `require_root`, `free_port`.

A missing tool fails the test with a message naming it (`ToolMissing`); nothing here skips.
"""
