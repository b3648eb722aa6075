package storetest

import (
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// Run runs the conformance suite against the backend that open makes. open returns a new,
// empty store on every call and registers its cleanup with t.Cleanup; that cleanup must
// accept a store that a case closed already (a second Close returns nil). Every case runs
// in parallel with the others, on a store of its own.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	cases := allCases()
	t.Run("every method of store.Store is claimed by a case", func(t *testing.T) {
		t.Parallel()
		checkClaims(t, cases)
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSpy(open(t))
			c.run(t, s)
			for _, m := range c.covers {
				if !s.called(m) {
					t.Errorf("the case claims to cover %s but never calls it", m)
				}
			}
		})
	}
}

// testCase is one property of the store, checked on a fresh store.
type testCase struct {
	name string // reads as a sentence
	// covers names the store.Store methods whose documented behaviour the case checks.
	covers []string
	run    func(t *testing.T, s store.Store)
}

func allCases() []testCase {
	var all []testCase
	for _, cases := range [][]testCase{
		appCases(), routeCases(), resolverCases(), changeCases(),
		executionCases(), executionTimeCases(), recorderCases(), retentionCases(), transitionCases(),
		queueCases(), relaunchCases(), leaseCases(), secretLeaseCases(), heartbeatCases(), tokenCases(), sessionCases(), apiCases(), apiConflictCases(), nodeCases(),
		workflowCases(), runCases(), runChangeCases(), secretCases(), secretValueCases(),
		eventCases(), deliveryCases(), subscriptionCases(), scheduleCases(),
		imageCases(), routeImageCases(), functionCases(), statsCases(),
	} {
		all = append(all, cases...)
	}
	return all
}
