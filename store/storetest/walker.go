package storetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// checkClaims walks the methods of store.Store: each must be claimed by a case (its
// covers), and each claim must name a method of store.Store. Case names must be unique.
func checkClaims(t *testing.T, cases []testCase) {
	iface := reflect.TypeFor[store.Store]()
	claimed := map[string][]string{} // method -> the cases that claim it
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Errorf("two cases are named %q", c.name)
		}
		names[c.name] = true
		if len(c.covers) == 0 {
			t.Errorf("case %q claims no method", c.name)
		}
		for _, m := range c.covers {
			if _, ok := iface.MethodByName(m); !ok {
				t.Errorf("case %q claims %s, which store.Store does not have", c.name, m)
			}
			if !slices.Contains(claimed[m], c.name) {
				claimed[m] = append(claimed[m], c.name)
			}
		}
	}
	for i := range iface.NumMethod() {
		if m := iface.Method(i); m.IsExported() && len(claimed[m.Name]) == 0 {
			t.Errorf("no case covers store.Store.%s: add a case that checks what its documentation promises", m.Name)
		}
	}
}
