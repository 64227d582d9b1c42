package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// A summary is the median and range of one figure over the runs.
type summary struct{ median, lo, hi float64 }

func stats(xs []float64) summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return summary{}
	}
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{median: m, lo: s[0], hi: s[len(s)-1]}
}

// A row is one line of the table: procman's figure, the baseline measured
// in the same run, and the target when there is one.
type row struct {
	name     string
	unit     string // "time" (seconds), "MiB" or "CPU" (a share of one CPU)
	procman  summary
	baseline summary
	basename string
	target   string
	verdict  string  // "met", "MISSED" or "" when there is no target
	ratio    float64 // when set, the ratio column (else procman/baseline medians)
}

func (r row) format(v float64) string {
	switch r.unit {
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "CPU":
		return fmt.Sprintf("%.2f%%", v*100)
	}
	switch {
	case v >= 1:
		return fmt.Sprintf("%.3f s", v)
	case v >= 0.1:
		return fmt.Sprintf("%.0f ms", v*1000)
	default:
		return fmt.Sprintf("%.1f ms", v*1000)
	}
}

func (r row) cell(s summary) string {
	if s == (summary{}) {
		return "-"
	}
	return fmt.Sprintf("%s (%s–%s)", r.format(s.median), r.format(s.lo), r.format(s.hi))
}

// printTable writes the rows as a Markdown table: medians, with the range
// over the runs in parentheses.
func printTable(w io.Writer, rows []row, runs int, notes []string) {
	cells := [][]string{
		{"benchmark", "procman", "baseline", "ratio", "target", "result"},
	}
	for _, r := range rows {
		ratio := "-"
		switch {
		case r.ratio > 0:
			ratio = fmt.Sprintf("%.2f×", r.ratio)
		case r.baseline.median > 0:
			ratio = fmt.Sprintf("%.2f×", r.procman.median/r.baseline.median)
		}
		base := "-"
		if r.basename != "" {
			base = r.basename + ": " + r.cell(r.baseline)
		}
		cells = append(cells, []string{r.name, r.cell(r.procman), base, ratio, r.target, r.verdict})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		for i, s := range c {
			b.WriteString("| ")
			b.WriteString(s)
			b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(s)+1))
		}
		b.WriteString("|")
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
	fmt.Fprintf(w, "\nMedian of %d runs, (min–max) in parentheses. Startup ratio: median of the\n", runs)
	fmt.Fprintln(w, "per-run ratios, each procman run paired with the baseline run next to it.")
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}
