package events

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Defaults of a subscription.
var DefaultRetry = store.RetryPolicy{MaxAttempts: 5, Initial: time.Second, Max: time.Minute}

// CheckSubscription applies a subscription's defaults — each retry field left zero takes
// DefaultRetry's (a Max left zero at least Initial), dead_letter keep, scope own — and
// checks it (store.ValidateSubscription): its filter, its retry bounds, scope all only
// for an admin, and its target: a function (a route of the app matches the path, on a
// network the app's owner may use) or a workflow that exists and is the subscription's
// owner's. admin says that the subscription's owner is an admin (the caller, writing its
// own). An admin may subscribe another's function or workflow only with scope all: a
// delivery calls its owner's targets (the check is made again at each delivery, the app
// or workflow having perhaps changed hands). Another's target reads as one that does not
// exist. Errors are store errors: a ValidationError naming the field (400), or the store's own.
func (s *Service) CheckSubscription(ctx context.Context, sub *store.Subscription, admin bool) error {
	if sub.Retry.MaxAttempts == 0 {
		sub.Retry.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if sub.Retry.Initial == 0 {
		sub.Retry.Initial = DefaultRetry.Initial
	}
	if sub.Retry.Max == 0 {
		sub.Retry.Max = max(DefaultRetry.Max, sub.Retry.Initial)
	}
	if sub.DeadLetter == "" {
		sub.DeadLetter = store.DeadLetterKeep
	}
	if sub.Scope == "" {
		sub.Scope = store.ScopeOwn
	}
	if err := store.ValidateSubscription(*sub); err != nil {
		return err
	}
	if sub.Scope == store.ScopeAll && !admin {
		return store.Invalid("scope", "only an admin may subscribe to every event (scope %q); yours is %q", store.ScopeAll, store.ScopeOwn)
	}
	anyOwner := admin && sub.Scope == store.ScopeAll
	if name := sub.Target.Workflow; name != "" {
		w, err := s.store.GetWorkflow(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound), err == nil && w.Owner != sub.Owner && !admin:
			return store.Invalid("target.workflow", "workflow %q not found", name)
		case err != nil:
			return err
		case w.Owner != sub.Owner && !anyOwner:
			return store.Invalid("target.workflow", "workflow %q is %s's: a subscription runs its owner's workflows, unless it is an admin's with scope %q", name, w.Owner, store.ScopeAll)
		}
		return nil
	}
	tg, err := s.store.Target(sub.Target.App, sub.Target.Path, "", "")
	switch {
	case errors.Is(err, store.ErrNotFound) && !s.mayUseApp(sub.Target.App, sub.Owner, admin):
		return store.Invalid("target.app", "app %q not found", sub.Target.App)
	case errors.Is(err, store.ErrNotFound):
		return store.Invalid("target.path", "no route of app %q matches %s", sub.Target.App, sub.Target.Path)
	case err != nil:
		return err
	case tg.AppOwner != sub.Owner && !admin:
		return store.Invalid("target.app", "app %q not found", sub.Target.App)
	case tg.AppOwner != sub.Owner && !anyOwner:
		return store.Invalid("target.app", "app %q is %s's: a subscription calls its owner's functions, unless it is an admin's with scope %q", sub.Target.App, tg.AppOwner, store.ScopeAll)
	}
	if err := s.calls.NetworkAllowed(tg.AppOwner, tg.Route.Network); err != nil {
		if errors.Is(err, runner.ErrNetworkNotAllowed) {
			return store.Invalid("target.path", "the route of app %q that matches %s cannot run: %v", sub.Target.App, sub.Target.Path, err)
		}
		return err
	}
	return nil
}

// mayUseApp reports whether app exists and, unless admin, is owner's.
func (s *Service) mayUseApp(app, owner string, admin bool) bool {
	o, err := s.store.AppOwner(app)
	return err == nil && (admin || o == owner)
}
