"""netviz flow exporter: GoFlow2 JSON flow records in, bounded Prometheus counters out.

GoFlow2 has no per-flow metrics (see the project's FACTS), so this small process reads the
records GoFlow2 prints, one JSON object per line, and keeps counters by subnet pair, local host,
external peer and service. Standard library only: it runs in a stock `python` image with its
code mounted from a ConfigMap, beside `netviz_config`, which reads the same `network.toml`.

Stages, one module each (like GoFlow2's decoders -> producer -> format -> transport):
  reader      bytes from stdin / a FIFO / a file, cut into bounded lines, reopened when the writer goes
  record      one line -> a validated Record, or the reason it was rejected
  settings    network.toml -> what classification needs (subnets, interface indexes, host names)
  aggregate   count-once rule, classification, per-batch aggregation, self counters
  series      the bounded series store (a budget per family, least-recently-updated eviction inside
              the full family, new series read 0 for a time window so every scraper's increase()
              counts their first flows)
  exposition  Prometheus text format
  server      /metrics and /healthz
  cli         flags and wiring
"""

__version__ = "1.0.0"
