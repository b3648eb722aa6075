package bolt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestCountHead: the head of a stored execution is read in place, as encoding/json writes
// it; a head it cannot read (no app ID, an escape) is left to the decoder, never misread.
func TestCountHead(t *testing.T) {
	code := 1
	full := store.Execution{ID: store.NewIDs().Next(time.Now()), App: "shop", AppID: "01J0000000000000000000APP1", Route: "/items/:id/*rest",
		Type: store.TypeSync, Status: store.StatusFailed, Reason: store.ReasonBadExit, ExitCode: &code, CreatedAt: time.Now(), Output: []byte(`"status":"SUCCESS"`)}
	for _, tt := range []struct {
		name string
		edit func(*store.Execution)
		ok   bool
	}{
		{"a full record is read in place", func(*store.Execution) {}, true},
		{"a record without an app ID is left to the decoder", func(e *store.Execution) { e.AppID = "" }, false},
		{"a route with an escaped character is left to the decoder", func(e *store.Execution) { e.Route = "/a<b" }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ex := full
			tt.edit(&ex)
			v, err := json.Marshal(ex)
			if err != nil {
				t.Fatal(err)
			}
			app, appID, status, ok := countHead(v)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v: %s", ok, tt.ok, v)
			}
			if ok && (string(app) != ex.App || string(appID) != ex.AppID || string(status) != ex.Status) {
				t.Fatalf("read %q %q %q, want %q %q %q", app, appID, status, ex.App, ex.AppID, ex.Status)
			}
		})
	}
}
