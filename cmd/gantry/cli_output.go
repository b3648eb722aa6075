package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-openapi/strfmt"
)

// outputFormat is the value of the -o/--output flag. It implements
// pflag.Value so that a bad value is rejected when flags are parsed.
type outputFormat string

func (f *outputFormat) String() string { return string(*f) }

// Set validates and stores an output format.
func (f *outputFormat) Set(s string) error {
	switch v := outputFormat(s); v {
	case formatTable, formatJSON:
		*f = v
		return nil
	default:
		return fmt.Errorf("must be %q or %q", formatTable, formatJSON)
	}
}

// Type names the flag's value in help output.
func (f *outputFormat) Type() string { return "format" }

// printer writes a result either as JSON (the API's wrapper object) or
// in the human-readable form rendered by a callback.
type printer struct {
	w      io.Writer
	format outputFormat
}

// show prints payload as indented JSON with -o json, else calls human.
func (p printer) show(payload any, human func(io.Writer) error) error {
	if p.format == formatJSON {
		return writeJSON(p.w, payload)
	}
	return human(p.w)
}

// confirm prints a one-line confirmation in table mode. With -o json it
// prints nothing: the API answered 204 without a body.
func (p printer) confirm(format string, args ...any) error {
	if p.format == formatJSON {
		return nil
	}
	if _, err := fmt.Fprintf(p.w, format+"\n", args...); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON output: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// cleanCell keeps a cell on one line and in one column.
func cleanCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// table is a header row and data rows.
type table struct {
	header []string
	rows   [][]string
}

// writeTable writes t's header and rows aligned in columns.
func writeTable(w io.Writer, t table) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	writeRow := func(cells []string) {
		clean := make([]string, len(cells))
		for i, c := range cells {
			clean[i] = cleanCell(c)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	writeRow(t.header)
	for _, r := range t.rows {
		writeRow(r)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// field is one line of a single object's human-readable form.
type field struct {
	name  string
	value string
}

// writeFields writes "Name:  value" lines with aligned values.
func writeFields(w io.Writer, fields []field) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f.name, cleanCell(f.value))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// formatConfig renders a config as sorted k=v pairs separated by commas.
// Values that would be ambiguous there are quoted.
func formatConfig(cfg map[string]string) string {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + quoteIfNeeded(cfg[k])
	}
	return strings.Join(pairs, ",")
}

// formatHeaders renders headers as sorted K=V pairs, one per value, the
// way --header takes them.
func formatHeaders(h map[string][]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var pairs []string
	for _, k := range keys {
		for _, v := range h[k] {
			pairs = append(pairs, k+"="+quoteIfNeeded(v))
		}
	}
	return strings.Join(pairs, ",")
}

func quoteIfNeeded(v string) string {
	if strings.ContainsAny(v, ", \t\r\n\"") {
		return strconv.Quote(v)
	}
	return v
}

// orDash shows a missing value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTime(t *strfmt.DateTime) string {
	if t == nil {
		return "-"
	}
	return time.Time(*t).UTC().Format(time.RFC3339)
}

func formatInt(v *int64, unit string) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10) + unit
}

func formatFloat(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}
