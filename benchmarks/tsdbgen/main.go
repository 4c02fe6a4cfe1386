// Command tsdbgen writes a Prometheus TSDB of synthetic series, as a Prometheus that had scraped
// them would hold them: one sample per series per scrape interval, in blocks of a fixed length.
// benchmarks/dashboard_bench.py describes the series (from netviz's config and its budgets) and
// runs the real Prometheus over the result; this program only writes samples.
//
// The spec is JSON on standard input:
//
//	{"dir": "...", "start_ms": 0, "end_ms": 0, "interval_ms": 30000, "block_ms": 86400000, "seed": 1,
//	 "series": [{"labels": {"__name__": "...", "job": "..."}, "kind": "counter", "rate": 1000}, ...]}
//
// A counter grows by rate x interval x (0.5 to 1.5, at random) each sample; a gauge holds `rate`.
// With `rollup_ms`, a series that names two rollup metrics ("rollup": [increase, last]) also gets,
// every rollup_ms, what netviz's rollup rules record for it (dashboards/rollups.py): its growth
// since the previous rollup, and its value, under those names and its own other labels (a name
// left "" is not written).
// Built by tests/support/go_tools.py against the Prometheus module netviz pins (its tsdb package is
// what Prometheus itself writes blocks with), into the git-ignored .tools/ folder.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand"
	"os"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

type series struct {
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"`
	Rate   float64           `json:"rate"`
	Rollup []string          `json:"rollup"`
}

type spec struct {
	Dir        string   `json:"dir"`
	StartMs    int64    `json:"start_ms"`
	EndMs      int64    `json:"end_ms"`
	IntervalMs int64    `json:"interval_ms"`
	BlockMs    int64    `json:"block_ms"`
	RollupMs   int64    `json:"rollup_ms"`
	Seed       int64    `json:"seed"`
	Series     []series `json:"series"`
}

// Samples held in one appender before it is committed: bounds the writer's memory.
const perCommit = 200_000

func main() {
	var s spec
	if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
		fail("reading the spec from standard input: %v", err)
	}
	if s.IntervalMs <= 0 || s.BlockMs < s.IntervalMs || s.EndMs <= s.StartMs || len(s.Series) == 0 {
		fail("the spec needs interval_ms > 0, block_ms >= interval_ms, end_ms > start_ms and series")
	}
	sets := make([]labels.Labels, len(s.Series))
	values := make([]float64, len(s.Series))
	// Per series with rollups: the two rollup series' labels, and the value at the last rollup.
	rollupSets := make([][2]labels.Labels, len(s.Series))
	atRollup := make([]float64, len(s.Series))
	for i, se := range s.Series {
		if se.Kind != "counter" && se.Kind != "gauge" {
			fail("series %d: kind must be counter or gauge, not %q", i, se.Kind)
		}
		sets[i] = labels.FromMap(se.Labels)
		if len(se.Rollup) == 2 {
			for j, name := range se.Rollup {
				b := labels.NewBuilder(sets[i])
				b.Set(labels.MetricName, name)
				rollupSets[i][j] = b.Labels()
			}
		} else if len(se.Rollup) != 0 {
			fail("series %d: rollup must name two metrics (increase, last)", i)
		}
	}
	rnd := rand.New(rand.NewSource(s.Seed))
	samples := 0
	// Blocks aligned to multiples of their length, as Prometheus' compactor makes them.
	for block := s.StartMs; block < s.EndMs; block = (block/s.BlockMs + 1) * s.BlockMs {
		upper := min((block/s.BlockMs+1)*s.BlockMs, s.EndMs)
		// A block writer takes samples up to half its size behind the newest: twice the block, as promtool's backfill does.
		w, err := tsdb.NewBlockWriter(slog.New(slog.DiscardHandler), s.Dir, 2*s.BlockMs)
		if err != nil {
			fail("block writer: %v", err)
		}
		ctx := context.Background()
		app := w.Appender(ctx)
		refs := make([]storage.SeriesRef, len(s.Series))
		rollupRefs := make([][2]storage.SeriesRef, len(s.Series))
		held := 0
		for t := block; t < upper; t += s.IntervalMs {
			for i, se := range s.Series {
				if se.Kind == "counter" {
					values[i] += se.Rate * float64(s.IntervalMs) / 1000 * (0.5 + rnd.Float64())
				} else {
					values[i] = se.Rate
				}
				ref, err := app.Append(refs[i], sets[i], t, values[i])
				if err != nil {
					fail("append %s at %d: %v", sets[i], t, err)
				}
				refs[i] = ref
				held++
				if s.RollupMs > 0 && len(se.Rollup) == 2 && t > s.StartMs && (t-s.StartMs)%s.RollupMs == 0 {
					for j, v := range [2]float64{values[i] - atRollup[i], values[i]} {
						if se.Rollup[j] == "" {
							continue // not recorded (the rollups' heartbeat has a value only)
						}
						ref, err := app.Append(rollupRefs[i][j], rollupSets[i][j], t, v)
						if err != nil {
							fail("append %s at %d: %v", rollupSets[i][j], t, err)
						}
						rollupRefs[i][j] = ref
						held++
					}
					atRollup[i] = values[i]
				}
				if held >= perCommit {
					if err := app.Commit(); err != nil {
						fail("commit: %v", err)
					}
					app, held = w.Appender(ctx), 0
				}
			}
		}
		if err := app.Commit(); err != nil {
			fail("commit: %v", err)
		}
		if _, err := w.Flush(ctx); err != nil {
			fail("flush: %v", err)
		}
		if err := w.Close(); err != nil {
			fail("close: %v", err)
		}
		samples += int((upper-block+s.IntervalMs-1)/s.IntervalMs) * len(s.Series)
	}
	fmt.Printf("series=%d samples=%d\n", len(s.Series), samples)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tsdbgen: "+format+"\n", args...)
	os.Exit(1)
}
