// Command tsdbgen writes a Prometheus TSDB of synthetic series, as a Prometheus that had scraped
// them would hold them: one sample per series per scrape interval, in the blocks the spec lists and,
// from head_from_ms on, in the head (its write-ahead log, which Prometheus replays when it starts).
// benchmarks/dashboard_bench.py describes the series (from netviz's config and its budgets) and
// runs the real Prometheus over the result; this program only writes samples.
//
// The spec is JSON on standard input:
//
//	{"dir": "...", "start_ms": 0, "end_ms": 0, "interval_ms": 30000, "seed": 1,
//	 "blocks": [[0, 7200000], ...], "head_from_ms": 0, "max_block_ms": 194400000,
//	 "series": [{"labels": {"__name__": "...", "job": "..."}, "kind": "counter", "rate": 1000}, ...]}
//
// The blocks (each [min, max) in milliseconds, oldest first, from start_ms to head_from_ms without
// a gap) are where Prometheus' compactor would have left them (benchmarks/block_layout.py);
// max_block_ms is the longest the TSDB is opened with to write the head, so that its compactor
// leaves them as they are.
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
	"path/filepath"
	"strconv"

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
	Dir        string     `json:"dir"`
	StartMs    int64      `json:"start_ms"`
	EndMs      int64      `json:"end_ms"`
	IntervalMs int64      `json:"interval_ms"`
	Blocks     [][2]int64 `json:"blocks"`
	HeadFromMs int64      `json:"head_from_ms"`
	MaxBlockMs int64      `json:"max_block_ms"`
	RollupMs   int64      `json:"rollup_ms"`
	Seed       int64      `json:"seed"`
	Series     []series   `json:"series"`
}

// Samples held in one appender before it is committed: bounds the writer's memory.
const perCommit = 200_000

func main() {
	if len(os.Args) > 1 && os.Args[1] == "plan" {
		plan(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "grow" {
		grow(os.Args[2:])
		return
	}
	var s spec
	if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
		fail("reading the spec from standard input: %v", err)
	}
	if s.IntervalMs <= 0 || s.EndMs <= s.StartMs || len(s.Series) == 0 || s.HeadFromMs > s.EndMs {
		fail("the spec needs interval_ms > 0, end_ms > start_ms, head_from_ms <= end_ms and series")
	}
	from := s.StartMs
	for i, b := range s.Blocks {
		if b[0] != from || b[1] <= b[0] {
			fail("block %d [%d, %d): the blocks must run from start_ms to head_from_ms, oldest first, without a gap", i, b[0], b[1])
		}
		from = b[1]
	}
	if from != s.HeadFromMs {
		fail("the blocks end at %d, not at head_from_ms %d", from, s.HeadFromMs)
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
	w := writer{s: &s, sets: sets, values: values, rollupSets: rollupSets, atRollup: atRollup,
		rnd: rand.New(rand.NewSource(s.Seed))}
	ctx := context.Background()
	for _, b := range s.Blocks {
		// A block writer takes samples up to half its size behind the newest: twice the block, as promtool's backfill does.
		bw, err := tsdb.NewBlockWriter(slog.New(slog.DiscardHandler), s.Dir, 2*(b[1]-b[0]))
		if err != nil {
			fail("block writer: %v", err)
		}
		w.write(ctx, bw.Appender, b[0], b[1])
		id, err := bw.Flush(ctx)
		if err != nil {
			fail("flush: %v", err)
		}
		// A block cut from the head or compacted ends where its range does, not after its last
		// sample (the planner compacts a window that its blocks fill).
		endAt(filepath.Join(s.Dir, id.String()), b[1])
		if err := bw.Close(); err != nil {
			fail("close: %v", err)
		}
	}
	if s.HeadFromMs < s.EndMs {
		// The head: appended to the TSDB itself, so it is in the write-ahead log Prometheus replays.
		db := open(s.Dir, s.MaxBlockMs)
		w.write(ctx, func(ctx context.Context) storage.Appender { return db.Appender(ctx) }, s.HeadFromMs, s.EndMs)
		if err := db.Close(); err != nil {
			fail("closing the TSDB: %v", err)
		}
	}
	fmt.Printf("series=%d samples=%d blocks=%d\n", len(s.Series), w.samples, len(s.Blocks))
}

// writer appends the series' samples, carrying their values from one block to the next.
type writer struct {
	s          *spec
	sets       []labels.Labels
	values     []float64
	rollupSets [][2]labels.Labels
	atRollup   []float64
	rnd        *rand.Rand
	samples    int
}

// write appends every sample in [low, high) through appenders from newAppender.
func (w *writer) write(ctx context.Context, newAppender func(context.Context) storage.Appender, low, high int64) {
	s := w.s
	app := newAppender(ctx)
	refs := make([]storage.SeriesRef, len(s.Series))
	rollupRefs := make([][2]storage.SeriesRef, len(s.Series))
	held := 0
	for t := low; t < high; t += s.IntervalMs {
		for i, se := range s.Series {
			if se.Kind == "counter" {
				w.values[i] += se.Rate * float64(s.IntervalMs) / 1000 * (0.5 + w.rnd.Float64())
			} else {
				w.values[i] = se.Rate
			}
			ref, err := app.Append(refs[i], w.sets[i], t, w.values[i])
			if err != nil {
				fail("append %s at %d: %v", w.sets[i], t, err)
			}
			refs[i] = ref
			held++
			w.samples++
			if s.RollupMs > 0 && len(se.Rollup) == 2 && t > s.StartMs && (t-s.StartMs)%s.RollupMs == 0 {
				for j, v := range [2]float64{w.values[i] - w.atRollup[i], w.values[i]} {
					if se.Rollup[j] == "" {
						continue // not recorded (the rollups' heartbeat has a value only)
					}
					ref, err := app.Append(rollupRefs[i][j], w.rollupSets[i][j], t, v)
					if err != nil {
						fail("append %s at %d: %v", w.rollupSets[i][j], t, err)
					}
					rollupRefs[i][j] = ref
					held++
				}
				w.atRollup[i] = w.values[i]
			}
			if held >= perCommit {
				if err := app.Commit(); err != nil {
					fail("commit: %v", err)
				}
				app, held = newAppender(ctx), 0
			}
		}
	}
	if err := app.Commit(); err != nil {
		fail("commit: %v", err)
	}
}

// open opens the TSDB in dir as Prometheus would: no retention (the benchmark's blocks are older
// than its default), and the compactor's ranges up to maxBlockMs (when > 0), under which the
// blocks are as its planner leaves them.
func open(dir string, maxBlockMs int64) *tsdb.DB {
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0
	if maxBlockMs > 0 {
		opts.MaxBlockDuration = maxBlockMs
	}
	db, err := tsdb.Open(dir, slog.New(slog.DiscardHandler), nil, opts, nil)
	if err != nil {
		fail("opening the TSDB in %s: %v", dir, err)
	}
	return db
}

// endAt sets the maxTime of the block in dir.
func endAt(dir string, maxt int64) {
	path := filepath.Join(dir, "meta.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		fail("reading %s: %v", path, err)
	}
	var meta map[string]any
	if err := json.Unmarshal(raw, &meta); err != nil {
		fail("reading %s: %v", path, err)
	}
	meta["maxTime"] = maxt
	if raw, err = json.MarshalIndent(meta, "", "\t"); err != nil {
		fail("writing %s: %v", path, err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		fail("writing %s: %v", path, err)
	}
}

// plan prints, one per line as "min max", the blocks of a TSDB that Prometheus' compactor would
// merge next, with its block ranges: `tsdbgen plan DIR RANGE_MS...` (the ranges in milliseconds,
// shortest first). Nothing when it would leave them as they are.
func plan(args []string) {
	if len(args) < 2 {
		fail("usage: tsdbgen plan DIR RANGE_MS...")
	}
	var ranges []int64
	for _, a := range args[1:] {
		r, err := strconv.ParseInt(a, 10, 64)
		if err != nil || r <= 0 {
			fail("range %q: expected milliseconds, a positive integer", a)
		}
		ranges = append(ranges, r)
	}
	c, err := tsdb.NewLeveledCompactor(context.Background(), nil, slog.New(slog.DiscardHandler), ranges, nil, nil)
	if err != nil {
		fail("compactor: %v", err)
	}
	dirs, err := c.Plan(args[0])
	if err != nil {
		fail("plan: %v", err)
	}
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
		if err != nil {
			fail("reading %s: %v", dir, err)
		}
		var meta struct {
			MinTime int64 `json:"minTime"`
			MaxTime int64 `json:"maxTime"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			fail("reading %s: %v", dir, err)
		}
		fmt.Println(meta.MinTime, meta.MaxTime)
	}
}

// grow writes one series through Prometheus' own TSDB, a sample per interval from start to end,
// calling its compaction after each (a running Prometheus calls it every minute), and prints where
// it left them: "min max" for each block, oldest first, then "head <min>".
// `tsdbgen grow DIR START_MS END_MS INTERVAL_MS MAX_BLOCK_MS`. The reference
// benchmarks/block_layout.py is tested against (too slow for the benchmark's million series).
func grow(args []string) {
	if len(args) != 5 {
		fail("usage: tsdbgen grow DIR START_MS END_MS INTERVAL_MS MAX_BLOCK_MS")
	}
	var n [4]int64
	for i, a := range args[1:] {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil || v < 0 {
			fail("%q: expected milliseconds, a non-negative integer", a)
		}
		n[i] = v
	}
	start, end, interval, maxBlock := n[0], n[1], n[2], n[3]
	if interval == 0 || end <= start {
		fail("grow needs INTERVAL_MS > 0 and END_MS > START_MS")
	}
	db := open(args[0], maxBlock)
	db.DisableCompactions() // its own loop compacts by the clock: only the calls below, by the samples' times
	ctx := context.Background()
	series := labels.FromStrings(labels.MetricName, "up")
	for t := start; t < end; t += interval {
		app := db.Appender(ctx)
		if _, err := app.Append(0, series, t, 1); err != nil {
			fail("append at %d: %v", t, err)
		}
		if err := app.Commit(); err != nil {
			fail("commit: %v", err)
		}
		if err := db.Compact(ctx); err != nil {
			fail("compact: %v", err)
		}
	}
	for _, b := range db.Blocks() {
		fmt.Println(b.Meta().MinTime, b.Meta().MaxTime)
	}
	fmt.Println("head", db.Head().MinTime())
	if err := db.Close(); err != nil {
		fail("close: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tsdbgen: "+format+"\n", args...)
	os.Exit(1)
}
