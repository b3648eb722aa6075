package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParseNetworks(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   map[string][]string
		err    string
	}{
		{"owners are listed", []string{"team-a:alice,oidc:carol"}, map[string][]string{"team-a": {"alice", "oidc:carol"}}, ""},
		{"a star is every owner", []string{"shared:*"}, map[string][]string{"shared": nil}, ""},
		{"several are separated by semicolons or repeated", []string{"a:alice; b:bob", "c:*"},
			map[string][]string{"a": {"alice"}, "b": {"bob"}, "c": nil}, ""},
		{"a network given twice gets both lists", []string{"a:alice", "a:bob"}, map[string][]string{"a": {"alice", "bob"}}, ""},
		{"an owner listed twice is one owner", []string{"a:alice,alice", "a:alice"}, map[string][]string{"a": {"alice"}}, ""},
		{"a star given once stays every owner", []string{"a:*", "a:bob"}, map[string][]string{"a": nil}, ""},
		{"empty items are skipped", []string{";a:alice;"}, map[string][]string{"a": {"alice"}}, ""},
		{"a bare name is refused: sharing is said, not implied", []string{"shared"}, nil, "shared:*"},
		{"a name with an empty owner list is refused", []string{"shared:"}, nil, "name the owners"},
		{"an owner that is no user name is refused", []string{"a:alice,bad name"}, nil, `"bad name"`},
		{"an owner with a slash is refused", []string{"a:../x"}, nil, "is not a user name"},
		{"owners without a name are refused", []string{":alice"}, nil, "names no network"},
		{"Gantry's function network is refused", []string{"gantry-functions:*"}, nil, "Gantry's own"},
		{"the host network is refused", []string{"host:alice"}, nil, "Gantry's own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetworks(tt.values, "gantry-functions")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseNetworks(%q) = %v, %v; want an error saying %q", tt.values, got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseNetworks(%q) = %#v, %v; want %#v", tt.values, got, err, tt.want)
			}
		})
	}
}

// TestEveryServerFlagIsDocumented: each flag of gantry server has its environment variable,
// and README's table of flags names both.
func TestEveryServerFlagIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n## Running the server\n")
	section, _, _ = strings.Cut(section, "\n## ")
	names := regexp.MustCompile(`(?m)^\s+--([a-z-]+)`).FindAllStringSubmatch(newServerCmd().Flags().FlagUsages(), -1)
	if len(names) < len(serverEnv) {
		t.Fatalf("%d flags found in the usage, fewer than serverEnv's %d", len(names), len(serverEnv))
	}
	for _, m := range names {
		flag := m[1]
		env, ok := serverEnv[flag]
		switch {
		case !ok:
			t.Errorf("--%s has no environment variable in serverEnv", flag)
		case !strings.Contains(section, "| `--"+flag+"`") && !strings.Contains(section, ", `--"+flag+"`"):
			t.Errorf("--%s is not in README's table of flags", flag)
		case !strings.Contains(section, "`"+env+"`"):
			t.Errorf("%s (--%s) is not in README's table of flags", env, flag)
		}
	}
}
