// Command spanbench measures what netviz's dashboard queries would cost if Prometheus read each
// selector only from the TSDB blocks its own time reaches.
//
// Prometheus' engine opens one querier over a query's earliest to latest time
// (promql/engine.go), and each block's querier decodes every matching series before it looks at
// the selector's time (tsdb/querier.go selectSeriesSet). So an instant selector at now, in a query
// that also reads a week back, decodes its series in every block of that week. This program runs
// each query through Prometheus' own engine over Prometheus' own TSDB twice, in the same process
// and the same run: once as Prometheus does (one querier), once with a querier opened per selector
// over that selector's own time (the engine's select hints), which is what a block querier that
// skips blocks outside a selector's time would read. It checks that both give the same result.
//
// The spec is JSON on standard input:
//
//	{"dir": "...", "max_block_ms": 194400000, "repeat": 3,
//	 "queries": [{"name": "...", "expr": "...", "time_ms": 0}, {"name": "...", "expr": "...",
//	   "start_ms": 0, "end_ms": 0, "step_ms": 0}, ...]}
//
// and it prints a JSON line per query: {"name", "one_querier_s", "per_selector_s", "same"}, each
// time the fastest of `repeat` runs. benchmarks/span_bench.py writes the spec from the dashboards.
// Built by tests/support/go_tools.py against the Prometheus module netviz pins, into .tools/.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/annotations"
)

type query struct {
	Name    string `json:"name"`
	Expr    string `json:"expr"`
	TimeMs  int64  `json:"time_ms"`
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms"`
	StepMs  int64  `json:"step_ms"`
}

type spec struct {
	Dir        string  `json:"dir"`
	MaxBlockMs int64   `json:"max_block_ms"`
	Repeat     int     `json:"repeat"`
	Queries    []query `json:"queries"`
}

// perSelector is a Queryable whose queriers open one TSDB querier per Select, over the time of
// that selector alone.
type perSelector struct{ db *tsdb.DB }

func (p perSelector) Querier(mint, maxt int64) (storage.Querier, error) {
	return &spanQuerier{db: p.db, mint: mint, maxt: maxt}, nil
}

type spanQuerier struct {
	db         *tsdb.DB
	mint, maxt int64
	opened     []storage.Querier
}

func (q *spanQuerier) open(mint, maxt int64) (storage.Querier, error) {
	inner, err := q.db.Querier(mint, maxt)
	if err == nil {
		q.opened = append(q.opened, inner)
	}
	return inner, err
}

func (q *spanQuerier) Select(ctx context.Context, sorted bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = hints.Start, hints.End
	}
	inner, err := q.open(mint, maxt)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return inner.Select(ctx, sorted, hints, ms...)
}

func (q *spanQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	inner, err := q.open(q.mint, q.maxt)
	if err != nil {
		return nil, nil, err
	}
	return inner.LabelValues(ctx, name, hints, ms...)
}

func (q *spanQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	inner, err := q.open(q.mint, q.maxt)
	if err != nil {
		return nil, nil, err
	}
	return inner.LabelNames(ctx, hints, ms...)
}

func (q *spanQuerier) Close() error {
	var first error
	for _, inner := range q.opened {
		if err := inner.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func main() {
	var s spec
	if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
		fail("reading the spec from standard input: %v", err)
	}
	if s.Dir == "" || len(s.Queries) == 0 {
		fail("the spec needs dir and queries")
	}
	if s.Repeat < 1 {
		s.Repeat = 1
	}
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0 // the benchmark's blocks are older than the default retention
	if s.MaxBlockMs > 0 {
		opts.MaxBlockDuration = s.MaxBlockMs
	}
	db, err := tsdb.Open(s.Dir, slog.New(slog.DiscardHandler), nil, opts, nil)
	if err != nil {
		fail("opening the TSDB: %v", err)
	}
	db.DisableCompactions() // read it as it is
	defer db.Close()
	// The engine as Prometheus 3.14 configures it (cmd/prometheus/main.go), its default limits.
	engine := promql.NewEngine(promql.EngineOpts{
		Logger: slog.New(slog.DiscardHandler), MaxSamples: 50_000_000, Timeout: 2 * time.Minute,
		LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
	})
	ctx := context.Background()
	out := json.NewEncoder(os.Stdout)
	for _, q := range s.Queries {
		one, oneResult := run(ctx, engine, db, q, s.Repeat)
		per, perResult := run(ctx, engine, perSelector{db}, q, s.Repeat)
		if err := out.Encode(map[string]any{"name": q.Name, "one_querier_s": one, "per_selector_s": per,
			"same": oneResult == perResult}); err != nil {
			fail("writing: %v", err)
		}
	}
}

// run returns the fastest of `repeat` runs of q over queryable, in seconds, and its result as text.
func run(ctx context.Context, engine *promql.Engine, queryable storage.Queryable, q query, repeat int) (float64, string) {
	best, text := -1.0, ""
	for range repeat {
		var (
			pq  promql.Query
			err error
		)
		started := time.Now()
		if q.StepMs > 0 {
			pq, err = engine.NewRangeQuery(ctx, queryable, nil, q.Expr, time.UnixMilli(q.StartMs), time.UnixMilli(q.EndMs),
				time.Duration(q.StepMs)*time.Millisecond)
		} else {
			pq, err = engine.NewInstantQuery(ctx, queryable, nil, q.Expr, time.UnixMilli(q.TimeMs))
		}
		if err != nil {
			fail("%s: %v", q.Name, err)
		}
		result := pq.Exec(ctx)
		took := time.Since(started).Seconds()
		if result.Err != nil {
			fail("%s: %v", q.Name, result.Err)
		}
		text = canonical(result.Value)
		pq.Close()
		if best < 0 || took < best {
			best = took
		}
	}
	return best, text
}

// canonical is a result as text, its series in the order of their labels (an instant vector's
// order is not defined).
func canonical(v parser.Value) string {
	switch r := v.(type) {
	case promql.Vector:
		slices.SortFunc(r, func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
	case promql.Matrix:
		slices.SortFunc(r, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
	}
	return v.String()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "spanbench: "+format+"\n", args...)
	os.Exit(1)
}
