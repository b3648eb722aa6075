package store

import (
	"strings"
	"testing"
	"time"
)

func TestIDsIncreaseWhenTheClockStepsBack(t *testing.T) {
	g := NewIDs()
	a := g.Next(time.Now())
	if b := g.Next(time.Now().Add(-time.Hour)); b <= a {
		t.Fatalf("ID %s after %s when the clock stepped back", b, a)
	}
	prev := ""
	at := time.Now()
	for range 10000 { // one millisecond's worth and more
		id := g.Next(at)
		if id <= prev {
			t.Fatalf("ID %s after %s within one millisecond", id, prev)
		}
		prev = id
	}
}

func TestValidID(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	id := NewIDs().Next(at)
	if made, ok := ValidID(id); !ok || !made.Equal(at) {
		t.Fatalf("ValidID(%s) = %s %v, want %s", id, made, ok, at)
	}
	for _, bad := range []string{"", "not-a-ulid", id[:25], id + "0", "0" + id[1:] + "x"} {
		if _, ok := ValidID(bad); ok {
			t.Errorf("ValidID(%q) accepted it", bad)
		}
	}
	if _, ok := ValidID(strings.ToLower(id)); ok {
		t.Errorf("ValidID accepted %q in lower case: IDs must compare as they sort", id)
	}
}
