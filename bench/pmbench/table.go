//go:build linux

package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// A summary is the median and range of one figure over n runs; with n 0,
// the figure was not measured.
type summary struct {
	median, lo, hi float64
	n              int
}

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
	return summary{median: m, lo: s[0], hi: s[len(s)-1], n: len(s)}
}

// The builds of procman the table has a column for: the default one (on
// Linux, with its accelerators) and the portable one (-tags
// procman_portable), which every other system runs.
const (
	linuxBuild = iota
	portableBuild
	nBuilds
)

var buildNames = [nBuilds]string{"Linux build", "portable build"}

// A row is one line of the table: each build's figure, the baseline
// measured in the same run, and the target when there is one.
type row struct {
	name     string
	unit     string           // "time" (seconds), "MiB" or "CPU" (a share of one CPU)
	builds   [nBuilds]summary // n is 0 where a build was not measured
	baseline summary
	basename string
	ratios   [nBuilds]float64 // when set, the ratio column (else each build's median over the baseline's)
	target   string
	verdicts [nBuilds]string // "met", "MISSED", "(met)" or "(missed)" when shown but not judged, "" when there is no target
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
	if s.n == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s–%s)", r.format(s.median), r.format(s.lo), r.format(s.hi))
}

// judge returns the verdict on ok for a build whose result decides the
// exit status, or, in parentheses, for one shown for comparison.
func judge(ok, decides bool) string {
	switch {
	case ok && decides:
		return "met"
	case decides:
		return "MISSED"
	case ok:
		return "(met)"
	}
	return "(missed)"
}

// printTable writes the rows as a Markdown table: medians, with the range
// over the runs in parentheses.
func printTable(w io.Writer, rows []row, runs int, notes []string) {
	cells := [][]string{
		{"benchmark", buildNames[linuxBuild], buildNames[portableBuild], "baseline", "ratio", "target", "result"},
	}
	for _, r := range rows {
		var ratios, verdicts []string
		for i, s := range r.builds {
			ratio := "-"
			switch {
			case r.ratios[i] > 0:
				ratio = fmt.Sprintf("%.2f×", r.ratios[i])
			case s.n > 0 && r.baseline.median > 0:
				ratio = fmt.Sprintf("%.2f×", s.median/r.baseline.median)
			}
			ratios = append(ratios, ratio)
			verdicts = append(verdicts, cmp.Or(r.verdicts[i], "-"))
		}
		verdict := strings.Join(verdicts, " / ")
		if r.target == "" {
			verdict = ""
		}
		base := "-"
		if r.basename != "" {
			base = r.basename + ": " + r.cell(r.baseline)
		}
		cells = append(cells, []string{r.name, r.cell(r.builds[linuxBuild]), r.cell(r.builds[portableBuild]),
			base, strings.Join(ratios, " / "), r.target, verdict})
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
	fmt.Fprintf(w, "\nMedian of %d runs, (min–max) in parentheses; ratio and result: Linux build / portable\n", runs)
	fmt.Fprintln(w, "build. Startup ratios: median of the per-run ratios, each procman run paired with the")
	fmt.Fprintln(w, "baseline run next to it. A result in parentheses is shown, not judged.")
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}
