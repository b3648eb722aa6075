package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gantry-dev/gantry/"

// allowed is, for each layered package, the Gantry packages it may depend on (directly or
// not; gen/ and internal/ are left out), from README "Architecture".
var allowed = map[string][]string{
	"store":           {},
	"store/bolt":      {"store"},
	"store/postgres":  {"store"},
	"store/storetest": {"store"},
	"auth":            {"store"},
	"runner":          {},
	"secrets":         {"store"},
	"httperr":         {"auth", "runner", "secrets", "store"},
	"invoke":          {"httperr", "auth", "runner", "secrets", "store"},
	"images":          {"httperr", "auth", "runner", "secrets", "store"},
	"workflow":        {"invoke", "httperr", "auth", "runner", "secrets", "store"},
	"gateway":         {"invoke", "httperr", "auth", "runner", "secrets", "store"},
	"events":          {"workflow", "invoke", "httperr", "auth", "runner", "secrets", "store"},
	"schedule":        {"events", "workflow", "invoke", "httperr", "auth", "runner", "secrets", "store"},
	"handlers":        {"images", "events", "workflow", "invoke", "httperr", "auth", "runner", "secrets", "store"},
}

// TestEveryPackageImportsOnlyPackagesBelowIt reads the dependencies go list reports.
func TestEveryPackageImportsOnlyPackagesBelowIt(t *testing.T) {
	for pkg, may := range allowed {
		out, err := exec.Command("go", "list", "-deps", module+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "go.etcd.io/bbolt" && pkg != "store/bolt" {
				t.Errorf("%s depends on bbolt: only store/bolt may", pkg)
			}
			if strings.HasPrefix(dep, "github.com/jackc/pgx/") && pkg != "store/postgres" {
				t.Errorf("%s depends on pgx: only store/postgres (and tests, through internal/pgtest) may", pkg)
			}
			rest, ours := strings.CutPrefix(dep, module)
			if !ours || rest == pkg || strings.HasPrefix(rest, "gen/") || strings.HasPrefix(rest, "internal/") {
				continue
			}
			if !contains(may, rest) {
				t.Errorf("%s depends on %s, which is not below it", pkg, rest)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
