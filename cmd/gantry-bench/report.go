package main

// This file holds the report: one row per figure, printed as a table with a verdict
// against each target, and the formatting of the figures.

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// row is one line of the report.
type row struct {
	name, gantry, baseline, result, target string
	ok                                     bool
}

// report prints rows as a table and fails when a target was missed.
func report(out io.Writer, rows []row) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "benchmark\tgantry\tbaseline\tresult\ttarget\t")
	failed := 0
	for _, r := range rows {
		verdict := "ok"
		if !r.ok {
			verdict, failed = "MISSED", failed+1
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s %s\t\n", r.name, r.gantry, r.baseline, r.result, r.target, verdict)
	}
	_ = w.Flush()
	if failed > 0 {
		return fmt.Errorf("%d targets missed", failed)
	}
	return nil
}

// pct is the p-th percentile of ds.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
