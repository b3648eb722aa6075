package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// testSecretWritesDeliverTheirChange: CreateSecret, UpdateSecret and DeleteSecret deliver
// a ChangeSecret to every subscriber of the writing node before they return (hot
// containers holding the secret are drained at once); a write its guard refused, none.
func testSecretWritesDeliverTheirChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	var first, second changeLog
	defer s.Subscribe(first.add)()
	defer s.Subscribe(second.add)()
	changed := store.Change{Kind: store.ChangeSecret, Name: "db"}
	errNo := errors.New("no")
	for _, w := range []struct {
		name  string
		write func() error
		heard bool
	}{
		{"CreateSecret", func() error { _, err := s.CreateSecret(ctx, testSecret("db", "ann", nil)); return err }, true},
		{"UpdateSecret", func() error {
			_, err := s.UpdateSecret(ctx, "db", func(sec *store.Secret) error { sec.Version = 2; return nil }, nil)
			return err
		}, true},
		{"UpdateSecret refused by its guard", func() error {
			_, err := s.UpdateSecret(ctx, "db", func(*store.Secret) error { return nil }, func(string) error { return errNo })
			return ignore(err, errNo)
		}, false},
		{"DeleteSecret refused by its guard", func() error {
			return ignore(s.DeleteSecret(ctx, "db", func(store.Secret) error { return errNo }), errNo)
		}, false},
		{"DeleteSecret", func() error { return s.DeleteSecret(ctx, "db", nil) }, true},
	} {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		for i, l := range []*changeLog{&first, &second} {
			if got := l.take(); slices.Contains(got, changed) != w.heard {
				t.Errorf("%s: subscriber %d heard %+v by the time it returned, want %v among them: %v", w.name, i+1, got, changed, w.heard)
			}
		}
	}
}

// ignore returns nil for the error expected, and any other (nil included, as an error).
func ignore(err, expected error) error {
	switch {
	case errors.Is(err, expected):
		return nil
	case err == nil:
		return fmt.Errorf("succeeded, want %v", expected)
	}
	return err
}
