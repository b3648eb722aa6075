package main

// The README's walkthroughs as data: which console blocks run, their commands and the
// output each must print. readme_e2e_test.go runs them against a real server.
//
// Marking. A console block runs when the line just before its opening fence is
//
//	<!-- walkthrough: NAME -->
//
// Blocks with the same NAME form one walkthrough, run in one bash session in the order they
// appear (prose may sit between them); other blocks are prose only and never run.
//
// Inside a block, a line starting with "$ " is a command (a line ending in " \" goes on
// with the next line); the lines up to the next command are the output it must print,
// stdout and stderr together, exactly, except that a run of spaces compares equal to any
// other (table columns are as wide as their values). A command followed by no lines must
// print nothing. Empty lines at the end of an output are ignored.
//
// Each command must exit 0 (a pipeline: each of its commands, as with bash's pipefail),
// unless its last line ends in a comment whose last words are "exits N":
//
//	$ gantry apps get myapp      # exits 1
//	$ gantry executions wait $id # it was cancelled: exits 1
//
// An output of only "..." lines is refused: with it the step would check nothing but the
// exit status, and the README's reader learns nothing of what the command prints.
//
// Two things vary from run to run:
//
//   - "..." in an output line matches any run of characters within that line, and a line
//     that is only "..." matches any number of lines (none included);
//   - RFC 3339 timestamps (2026-11-22T10:11:33.662Z), times of day (10:11:33) and IDs (ULIDs:
//     01M81ES173Z8Z6PFGGRC8KR9PB) match any timestamp, time and ID, so the README may show
//     realistic ones.

import (
	"bufio"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// walkStep is one command of a walkthrough and the output it must print.
type walkStep struct {
	line    int // of the command in the README
	command string
	want    []string
	exit    int // the exit status it must end with
}

// walkthrough is the steps of the blocks marked with one name.
type walkthrough struct {
	name  string
	steps []walkStep
}

var (
	walkMarker = regexp.MustCompile(`^<!-- walkthrough: ([a-z0-9-]+) -->$`)
	walkExits  = regexp.MustCompile(`\s#(.*\s)?exits ([0-9]+)$`) // a command's last line that says its exit status
)

// parseWalkthroughs reads the marked console blocks of a Markdown document, in order.
func parseWalkthroughs(r io.Reader) ([]walkthrough, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var (
		all     []walkthrough
		byName  = map[string]int{}
		lineNo  int
		current = -1 // index into all of the block being read, -1 outside one
		marked  = "" // the name of the marker just read
		step    *walkStep
		cont    bool // the previous command line ended in " \"
	)
	flush := func() error {
		if step == nil {
			return nil
		}
		for len(step.want) > 0 && strings.TrimSpace(step.want[len(step.want)-1]) == "" {
			step.want = step.want[:len(step.want)-1]
		}
		if len(step.want) > 0 && !slices.ContainsFunc(step.want, func(l string) bool { return strings.TrimSpace(l) != "..." }) {
			return fmt.Errorf("line %d: the output of $ %s is only \"...\": show at least one line it prints", step.line, step.command)
		}
		all[current].steps = append(all[current].steps, *step)
		step = nil
		return nil
	}
	// exits sets the step's exit status from its command's last line.
	exits := func(line string) {
		if m := walkExits.FindStringSubmatch(line); m != nil {
			step.exit, _ = strconv.Atoi(m[2]) // [0-9]+; a huge one fails the run, as it should
		}
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case current < 0 && marked != "":
			if line != "```console" {
				return nil, fmt.Errorf("line %d: a walkthrough marker must come right before a ```console block", lineNo)
			}
			i, ok := byName[marked]
			if !ok {
				i = len(all)
				byName[marked] = i
				all = append(all, walkthrough{name: marked})
			}
			current, marked = i, ""
		case current < 0:
			if m := walkMarker.FindStringSubmatch(line); m != nil {
				marked = m[1]
			} else if strings.HasPrefix(line, "<!-- walkthrough") {
				return nil, fmt.Errorf("line %d: malformed walkthrough marker %q (want <!-- walkthrough: NAME -->)", lineNo, line)
			}
		case line == "```":
			if cont {
				return nil, fmt.Errorf("line %d: the block ends inside a command continued with \\", lineNo)
			}
			if err := flush(); err != nil {
				return nil, err
			}
			current = -1
		case cont:
			step.command += "\n" + line
			if cont = strings.HasSuffix(line, "\\"); !cont {
				exits(line)
			}
		case strings.HasPrefix(line, "$ "):
			if err := flush(); err != nil {
				return nil, err
			}
			step = &walkStep{line: lineNo, command: strings.TrimPrefix(line, "$ ")}
			if cont = strings.HasSuffix(line, "\\"); !cont {
				exits(line)
			}
		case step == nil:
			return nil, fmt.Errorf("line %d: output %q before the block's first command", lineNo, line)
		default:
			step.want = append(step.want, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if current >= 0 || marked != "" {
		return nil, fmt.Errorf("the document ends inside walkthrough %q", all[max(current, 0)].name+marked)
	}
	for _, w := range all {
		if len(w.steps) == 0 {
			return nil, fmt.Errorf("walkthrough %q has no commands", w.name)
		}
	}
	return all, nil
}

var (
	walkTime   = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b`)
	walkID     = regexp.MustCompile(`\b[0-9A-HJKMNP-TV-Z]{26}\b`)
	walkSpaces = regexp.MustCompile(` {2,}`)
	walkHMS    = regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`)
)

// normalizeWalkLine replaces what varies between runs (timestamps, IDs) with placeholders.
func normalizeWalkLine(s string) string {
	s = walkSpaces.ReplaceAllString(s, " ")
	s = walkTime.ReplaceAllString(s, "<time>")
	s = walkHMS.ReplaceAllString(s, "<clock>")
	return walkID.ReplaceAllString(s, "<id>")
}

// walkLineRegexp is the pattern of one expected line: "..." is any run of characters.
func walkLineRegexp(want string) *regexp.Regexp {
	parts := strings.Split(normalizeWalkLine(want), "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// matchWalkOutput reports whether the lines got match the expected lines want.
func matchWalkOutput(want, got []string) bool {
	norm := make([]string, len(got))
	for i, g := range got {
		norm[i] = normalizeWalkLine(g)
	}
	pats := make([]*regexp.Regexp, len(want))
	for i, w := range want {
		if w != "..." {
			pats[i] = walkLineRegexp(w)
		}
	}
	var match func(w, g int) bool
	match = func(w, g int) bool {
		if w == len(want) {
			return g == len(norm)
		}
		if pats[w] == nil { // "..." alone: any number of lines
			for k := g; k <= len(norm); k++ {
				if match(w+1, k) {
					return true
				}
			}
			return false
		}
		return g < len(norm) && pats[w].MatchString(norm[g]) && match(w+1, g+1)
	}
	return match(0, 0)
}

// checkWalkStep tells how the output got and exit status code of st's command differ from
// what the README says, or "" when they do not.
func checkWalkStep(st walkStep, got []string, code int) string {
	var problems []string
	if code != st.exit {
		problems = append(problems, fmt.Sprintf("it exited %d; the README says %d (a comment ending in \"exits N\" says N, none says 0)", code, st.exit))
	}
	if !matchWalkOutput(st.want, got) {
		problems = append(problems, "its output differs")
	}
	if problems == nil {
		return ""
	}
	return fmt.Sprintf("README.md:%d: $ %s\n%s\n--- the README says:\n%s\n--- it printed:\n%s",
		st.line, st.command, strings.Join(problems, "; "), strings.Join(st.want, "\n"), strings.Join(got, "\n"))
}

// splitWalkOutput turns a command's output into lines: carriage returns (curl -i) and
// empty lines at the end dropped.
func splitWalkOutput(out string) []string {
	out = strings.TrimRight(strings.ReplaceAll(out, "\r\n", "\n"), "\n \t")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func TestParseWalkthroughs(t *testing.T) {
	doc := "intro\n```console\n$ not run\n```\n" +
		"<!-- walkthrough: one -->\n```console\n$ echo a\na\n\n$ long \\\n  --flag\n$ quiet\n```\n" +
		"prose\n<!-- walkthrough: two -->\n```console\n$ x\n```\n" +
		"<!-- walkthrough: one -->\n```console\n$ echo b\n...\nb\n$ false   # exits 1\n$ f \\\n  x  # it fails: exits 2\n$ echo '# exits 1'\n$ g # exits\n```\n"
	got, err := parseWalkthroughs(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []walkthrough{
		{name: "one", steps: []walkStep{
			{line: 7, command: "echo a", want: []string{"a"}},
			{line: 10, command: "long \\\n  --flag"},
			{line: 12, command: "quiet"},
			{line: 21, command: "echo b", want: []string{"...", "b"}},
			{line: 24, command: "false   # exits 1", exit: 1},
			{line: 25, command: "f \\\n  x  # it fails: exits 2", exit: 2},
			{line: 27, command: "echo '# exits 1'"},
			{line: 28, command: "g # exits"},
		}},
		{name: "two", steps: []walkStep{{line: 17, command: "x"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed\n%#v\nwant\n%#v", got, want)
	}
	for _, tc := range []struct{ name, doc string }{
		{"a marker not followed by a console block is refused", "<!-- walkthrough: x -->\n```sh\n$ a\n```\n"},
		{"a malformed marker is refused", "<!-- walkthrough x -->\n```console\n$ a\n```\n"},
		{"output before the first command is refused", "<!-- walkthrough: x -->\n```console\nout\n$ a\n```\n"},
		{"an unterminated block is refused", "<!-- walkthrough: x -->\n```console\n$ a\n"},
		{"a walkthrough without commands is refused", "<!-- walkthrough: x -->\n```console\n```\n"},
		{"an output of only ... is refused", "<!-- walkthrough: x -->\n```console\n$ a\n...\n\n$ b\nb\n```\n"},
		{"an output of only ... lines is refused", "<!-- walkthrough: x -->\n```console\n$ a\n...\n ... \n```\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseWalkthroughs(strings.NewReader(tc.doc)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestCheckWalkStep: a step fails on its exit status as well as on its output.
func TestCheckWalkStep(t *testing.T) {
	ok, fails := walkStep{line: 3, command: "true", want: []string{"a"}}, walkStep{line: 4, command: "false # exits 1", want: []string{"a"}, exit: 1}
	for _, tc := range []struct {
		name string
		st   walkStep
		got  []string
		code int
		want string // in the message; "" for none
	}{
		{"the output and status the README says", ok, []string{"a"}, 0, ""},
		{"a failure the README does not show", ok, []string{"a"}, 1, "README.md:3: $ true\nit exited 1; the README says 0"},
		{"a failure the README shows", fails, []string{"a"}, 1, ""},
		{"a success where the README shows a failure", fails, []string{"a"}, 0, "it exited 0; the README says 1"},
		{"another status", fails, []string{"a"}, 2, "it exited 2; the README says 1"},
		{"a wrong output", ok, []string{"b"}, 0, "its output differs\n--- the README says:\na\n--- it printed:\nb"},
		{"both", ok, []string{"b"}, 1, "says 0 (a comment ending in \"exits N\" says N, none says 0); its output differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := checkWalkStep(tc.st, tc.got, tc.code)
			if (tc.want == "") != (msg == "") || !strings.Contains(msg, tc.want) {
				t.Fatalf("checkWalkStep: %q, want %q", msg, tc.want)
			}
		})
	}
}

func TestMatchWalkOutput(t *testing.T) {
	for _, tc := range []struct {
		name      string
		want, got []string
		match     bool
	}{
		{"equal lines match", []string{"a", "b"}, []string{"a", "b"}, true},
		{"a changed line does not match", []string{"a", "b"}, []string{"a", "c"}, false},
		{"an extra line does not match", []string{"a"}, []string{"a", "b"}, false},
		{"a missing line does not match", []string{"a", "b"}, []string{"a"}, false},
		{"no expected output matches only no output", nil, []string{"x"}, false},
		{"... in a line matches any characters", []string{`{"a":1, ... ,"z":2}`}, []string{`{"a":1, "b":3, "c":4 ,"z":2}`}, true},
		{"... in a line stays within the line", []string{"a...c"}, []string{"ab", "c"}, false},
		{"a line of ... matches several lines", []string{"a", "...", "d"}, []string{"a", "b", "c", "d"}, true},
		{"a line of ... matches no line", []string{"a", "...", "d"}, []string{"a", "d"}, true},
		{"a line of ... does not excuse a wrong last line", []string{"a", "..."}, []string{"b", "c"}, false},
		{"timestamps match any timestamp", []string{`"created_at":"2026-11-22T10:11:33.662Z"`}, []string{`"created_at":"2027-01-02T03:04:05.1Z"`}, true},
		{"times of day match any time of day", []string{"22:06:16 #1 run queued"}, []string{"07:01:02 #1 run queued"}, true},
		{"IDs match any ID", []string{"01M81ES173Z8Z6PFGGRC8KR9PB  myapp"}, []string{"01M91HG0HD104NBMKFAF8KRZA5  myapp"}, true},
		{"an ID does not match a name", []string{"01M81ES173Z8Z6PFGGRC8KR9PB"}, []string{"myapp"}, false},
		{"table columns may be wider or narrower", []string{"ID    NAME  DURATION  CREATED", "x     y     ...       z"}, []string{"ID NAME DURATION    CREATED", "x  y  10.5s       z"}, true},
		{"a space is still needed where the README has one", []string{"a  b"}, []string{"ab"}, false},
		{"regexp characters are literal", []string{"a.c (x)"}, []string{"abc (x)"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchWalkOutput(tc.want, tc.got); got != tc.match {
				t.Fatalf("matchWalkOutput(%q, %q) = %v", tc.want, tc.got, got)
			}
		})
	}
}
