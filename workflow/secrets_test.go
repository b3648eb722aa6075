package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// testSecrets is the secret service as the runner (Files) and the invocation path
// (Version) see it, over a map: the test double of both narrow interfaces.
type testSecrets struct {
	mu       sync.Mutex
	values   map[string]map[string][]byte
	versions map[string]time.Time
}

func newTestSecrets() *testSecrets {
	return &testSecrets{values: map[string]map[string][]byte{}, versions: map[string]time.Time{}}
}

func (s *testSecrets) set(ref string, values map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[ref] = map[string][]byte{}
	for k, v := range values {
		s.values[ref][k] = []byte(v)
	}
	s.versions[ref] = time.Now()
}

func missing(ref string) error {
	return store.Errorf(store.ErrConflict, "secret %q does not exist", ref)
}

func (s *testSecrets) Files(_ context.Context, refs []string) (map[string]map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string][]byte, len(refs))
	for _, ref := range refs {
		v, ok := s.values[ref]
		if !ok {
			return nil, missing(ref)
		}
		out[ref] = v
	}
	return out, nil
}

func (s *testSecrets) Version(_, _ string, refs []string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var newest time.Time
	for _, ref := range refs {
		at, ok := s.versions[ref]
		if !ok {
			return time.Time{}, missing(ref)
		}
		if at.After(newest) {
			newest = at
		}
	}
	return newest, nil
}

func TestParseReadsAStepsSecrets(t *testing.T) {
	p, err := Parse([]byte(one(`{"name":"a",` + call + `,"secrets":["db-password","ssh:@caller","ssh:bob"]}`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Steps[0].Secrets; !slices.Equal(got, []string{"db-password", "ssh:@caller", "ssh:bob"}) {
		t.Fatalf("secrets %v", got)
	}
	for _, tt := range []struct{ name, doc, field, message string }{
		{"secrets on a sleep", one(`{"name":"a","sleep":"1s","secrets":["db"]}`), "steps[0].secrets", "need a call"},
		{"a secret that is no name", one(`{"name":"a",` + call + `,"secrets":["DB Password"]}`), "steps[0].secrets", `"DB Password"`},
		{"a secret named twice", one(`{"name":"a",` + call + `,"secrets":["db","db"]}`), "steps[0].secrets", "twice"},
		{"an SSH key of no user", one(`{"name":"a",` + call + `,"secrets":["ssh:.."]}`), "steps[0].secrets", `"ssh:.."`},
		{"a secret that is not a string", one(`{"name":"a",` + call + `,"secrets":[1]}`), "steps[0].secrets[0]", "string"},
		{"secrets that are not a list", one(`{"name":"a",` + call + `,"secrets":"db"}`), "steps[0].secrets", "array"},
		{"too many secrets", one(`{"name":"a",` + call + `,"secrets":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}`), "steps[0].secrets", "at most 16"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			var verr *store.ValidationError
			if !errors.As(err, &verr) || verr.Field != tt.field || !strings.Contains(verr.Message, tt.message) {
				t.Fatalf("got %v, want a ValidationError of %s saying %s", err, tt.field, tt.message)
			}
		})
	}
}

func TestStepSecretsResolveTheCaller(t *testing.T) {
	for _, tt := range []struct {
		name   string
		refs   []string
		caller string
		want   []string
		err    string
	}{
		{"no secrets", nil, "ann", nil, ""},
		{"the caller's key", []string{"db", "ssh:@caller"}, "ann", []string{"db", "ssh:ann"}, ""},
		{"the caller's key named twice is named once", []string{"ssh:ann", "ssh:@caller"}, "ann", []string{"ssh:ann"}, ""},
		{"another's key as it is", []string{"ssh:bob"}, "ann", []string{"ssh:bob"}, ""},
		{"a run without a caller", []string{"ssh:@caller"}, "", nil, "this run has no caller"},
		{"a caller that cannot have a key", []string{"ssh:@caller"}, "a b", nil, `user name "a b"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stepSecrets(tt.refs, tt.caller)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "ssh:@caller") {
					t.Fatalf("got %v %v, want an error naming ssh:@caller saying %s", got, err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
		})
	}
}

// TestAStepsCallNamesTheCallersKey: the engine resolves ssh:@caller when it starts the
// step's call, and a run whose caller cannot have a key fails the step, saying why.
func TestAStepsCallNamesTheCallersKey(t *testing.T) {
	p, err := Parse([]byte(one(`{"name":"a",` + call + `,"secrets":["db","ssh:@caller","ssh:bob"]}`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ caller, want, err string }{
		{caller: "alice", want: "db ssh:alice ssh:bob"},
		{caller: "", err: `step a failed: secrets: "ssh:@caller" is the SSH key of the run's caller, and this run has no caller`},
	} {
		var got []invoke.StepRequest
		r := store.Run{ID: "run-1", Owner: "wendy", TriggeredBy: tt.caller, Status: store.StatusQueued, Steps: []store.StepRun{{Name: "a", Status: store.StatusPending}}}
		m := &mover{r: &r, p: p, now: time.Now(), stepOf: func(req invoke.StepRequest) (store.StepCall, error) {
			got = append(got, req)
			return store.StepCall{Task: store.Task{ID: "call-1"}}, nil
		}}
		m.move()
		if tt.err != "" {
			if len(got) != 0 || r.Status != store.StatusFailed || r.Error != tt.err {
				t.Fatalf("caller %q: %d calls, run %s %q; want none, FAILED %q", tt.caller, len(got), r.Status, r.Error, tt.err)
			}
			continue
		}
		if len(got) != 1 || strings.Join(got[0].Secrets, " ") != tt.want || got[0].SecretsOwner != "wendy" || got[0].SecretsLent != tt.caller {
			t.Fatalf("caller %q: calls %+v, want one naming %s, the workflow owner's but for the key the caller lent", tt.caller, got, tt.want)
		}
	}
}

// TestAStepGetsItsSecretsAsFiles: end to end, a step's call reads the run caller's SSH key
// and a function secret as files; a run whose caller has no key fails that step, naming
// the key it lacks.
func TestAStepGetsItsSecretsAsFiles(t *testing.T) {
	e := newEnv(t, "")
	e.secrets.set("db-password", map[string]string{"value": "pw-1"})
	e.secrets.set("ssh:dev", map[string]string{store.SSHKeyFile: "KEY OF DEV"})
	w := e.put("deploy", `{
	  "outputs": {"files": "$.steps.clone.output"},
	  "steps": [{"name": "clone", "call": {"app": "wf", "path": "/cold"}, "secrets": ["db-password", "ssh:@caller"],
	             "input": {"files": ["/run/secrets/ssh:dev/private_key", "/run/secrets/db-password/value"]}}]
	}`)
	r := e.wait(e.start(w, ``).ID, time.Minute) // triggered by dev
	if r.Status != store.StatusSuccess {
		t.Fatalf("status %s (%s: %s)", r.Status, r.Reason, r.Error)
	}
	var out struct {
		Files map[string]struct {
			SHA256 string `json:"sha256"`
			Mode   string `json:"mode"`
			UID    int    `json:"uid"`
		} `json:"files"`
	}
	if err := json.Unmarshal(r.Outputs, &out); err != nil {
		t.Fatal(err)
	}
	for path, value := range map[string]string{"/run/secrets/ssh:dev/private_key": "KEY OF DEV", "/run/secrets/db-password/value": "pw-1"} {
		sum := sha256.Sum256([]byte(value))
		if f := out.Files[path]; f.SHA256 != hex.EncodeToString(sum[:]) || f.Mode != "0400" || f.UID != 65534 {
			t.Errorf("%s: %+v", path, f)
		}
	}

	other, _, err := e.engine.Trigger(context.Background(), w, nil, TriggerOptions{TriggeredBy: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	r = e.wait(other.ID, time.Minute)
	clone := step(t, r, "clone")
	const want = `secret "ssh:carol" does not exist`
	if r.Status != store.StatusFailed || clone.Status != store.StatusFailed || !strings.Contains(clone.Error, want) || !strings.Contains(r.Error, want) {
		t.Fatalf("run %s %q, step %s %q; want both FAILED saying %s", r.Status, r.Error, clone.Status, clone.Error, want)
	}
}

func TestCheckSecretsSeesEveryNamedSecretButTheCallers(t *testing.T) {
	p, err := Parse([]byte(one(`{"name":"a",` + call + `,"secrets":["db","ssh:@caller","ssh:bob"]}`)))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := p.CheckSecrets(func(ref string) error { seen = append(seen, ref); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"db", "ssh:bob"}) {
		t.Fatalf("checked %v, want db and ssh:bob", seen)
	}
	err = p.CheckSecrets(func(ref string) error {
		if ref == "ssh:bob" {
			return store.NotFound("secret", ref)
		}
		return nil
	})
	var verr *store.ValidationError
	if !errors.As(err, &verr) || verr.Field != "steps[0].secrets" {
		t.Fatalf("a missing secret: %v, want a validation error of steps[0].secrets", err)
	}
}
