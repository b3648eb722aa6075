package handlers

import (
	"context"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/subscriptions"
	"github.com/gantry-dev/gantry/store"
)

// ListSubscriptions answers one page of subscriptions in name order: a developer's own, or
// for an admin all of them or one owner's.
func (a *API) ListSubscriptions(ctx context.Context, params subscriptions.ListSubscriptionsParams) middleware.Responder {
	owner, err := ownerFilter(caller(ctx), params.Owner, "subscriptions")
	if err != nil {
		return a.errorResponse(err)
	}
	f := store.SubscriptionFilter{}
	if owner != "" {
		f.Visible = func(s store.Subscription) bool { return s.Owner == owner }
	}
	list, next, err := a.store.ListSubscriptions(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.SubscriptionsWrapper{Subscriptions: make([]*models.Subscription, 0, len(list)), NextCursor: next}
	for _, s := range list {
		out.Subscriptions = append(out.Subscriptions, subscriptionToModel(s))
	}
	return subscriptions.NewListSubscriptionsOK().WithPayload(out)
}

// CreateSubscription creates a subscription owned by the caller, enabled unless it says
// otherwise, its defaults applied and its target checked by the events service.
func (a *API) CreateSubscription(ctx context.Context, params subscriptions.CreateSubscriptionParams) middleware.Responder {
	in, who := params.Body.Subscription, caller(ctx)
	switch {
	case in == nil:
		return a.badRequest("subscription", "subscription is required")
	case in.Name == "":
		return a.badRequest("subscription.name", "subscription.name is required")
	case in.Filter == nil:
		return a.badRequest("subscription.filter", "subscription.filter is required: at least the event type")
	case in.Target == nil:
		return a.badRequest("subscription.target", "subscription.target is required: a function or a workflow")
	case in.Scope == store.ScopeAll && !who.IsAdmin():
		return a.errorResponse(auth.Forbidden("only an admin may subscribe to every event (scope %q)", store.ScopeAll))
	case a.events == nil:
		return responder(errNoEvents())
	}
	sub := store.Subscription{Name: in.Name, Owner: who.Name, Enabled: true}
	if err := patchSubscription(&sub, in); err != nil {
		return a.errorResponse(withFieldPrefix("subscription", err))
	}
	if err := a.events.CheckSubscription(ctx, &sub, who.IsAdmin()); err != nil {
		return a.errorResponse(subscriptionField(err))
	}
	created, err := a.store.CreateSubscription(ctx, sub)
	if err != nil {
		return a.errorResponse(withFieldPrefix("subscription", err))
	}
	return subscriptions.NewCreateSubscriptionCreated().WithPayload(&models.SubscriptionWrapper{Subscription: subscriptionToModel(created)})
}

// GetSubscription answers one subscription of the caller's.
func (a *API) GetSubscription(ctx context.Context, params subscriptions.GetSubscriptionParams) middleware.Responder {
	s, err := a.subscription(ctx, params.Name)
	if err != nil {
		return a.errorResponse(err)
	}
	return subscriptions.NewGetSubscriptionOK().WithPayload(&models.SubscriptionWrapper{Subscription: subscriptionToModel(s)})
}

// PatchSubscription changes the fields given, checked again as a whole, as its owner's
// (its target must be the owner's); an admin may give the subscription to another owner,
// unless its scope is all (an admin's own only: 400, set scope own first).
func (a *API) PatchSubscription(ctx context.Context, params subscriptions.PatchSubscriptionParams) middleware.Responder {
	in, who := params.Body.Subscription, caller(ctx)
	switch {
	case in == nil:
		return a.badRequest("subscription", "subscription is required")
	case in.Name != "" && in.Name != params.Name:
		return a.badRequest("subscription.name", "subscription.name %q differs from the subscription in the URL (%q); subscriptions cannot be renamed", in.Name, params.Name)
	case in.Owner != "" && in.Owner != who.Name && !who.IsAdmin():
		return a.errorResponse(auth.Forbidden("only an admin may give a subscription to another owner"))
	case in.Scope == store.ScopeAll && !who.IsAdmin():
		return a.errorResponse(auth.Forbidden("only an admin may subscribe to every event (scope %q)", store.ScopeAll))
	}
	if in.Owner != "" {
		if err := store.ValidateUserName(in.Owner); err != nil {
			return a.errorResponse(withField("subscription.owner", err))
		}
	}
	current, err := a.subscription(ctx, params.Name)
	if err != nil {
		return a.errorResponse(err)
	}
	if a.events == nil {
		return responder(errNoEvents())
	}
	// The events service's check reads the store (the target's app or workflow): it runs
	// before the write, on the subscription as it was read, and the write refuses (409)
	// if the subscription changed meanwhile.
	next := current
	if in.Owner != "" {
		next.Owner = in.Owner
	}
	if err := patchSubscription(&next, in); err != nil {
		return a.errorResponse(withFieldPrefix("subscription", err))
	}
	// Scope all is an admin's own: roles are not stored by name, so only an admin's write of
	// its own subscription may have it, and a subscription of scope all is never given away.
	// The check of the target is the owner's: an admin's (the caller's) only when it is its own.
	ownerAdmin := who.IsAdmin() && next.Owner == who.Name
	switch {
	case next.Scope == store.ScopeAll && next.Owner != current.Owner:
		return a.badRequest("subscription.owner", "a subscription of scope %q is its admin's own and cannot be given to %s: set scope %q first", store.ScopeAll, next.Owner, store.ScopeOwn)
	case next.Scope == store.ScopeAll && !ownerAdmin:
		return a.badRequest("subscription.scope", "scope %q is for an admin's own subscriptions; this one is %s's: set scope %q", store.ScopeAll, next.Owner, store.ScopeOwn)
	}
	if err := a.events.CheckSubscription(ctx, &next, ownerAdmin); err != nil {
		return a.errorResponse(subscriptionField(err))
	}
	updated, err := a.store.UpdateSubscription(ctx, params.Name, func(s *store.Subscription) error {
		if s.ID != current.ID || !s.UpdatedAt.Equal(current.UpdatedAt) { // changed, or deleted and made again
			return store.Errorf(store.ErrConflict, "subscription %q changed while it was updated: try again", params.Name)
		}
		next.CreatedAt, next.UpdatedAt = s.CreatedAt, s.UpdatedAt
		*s = next
		return nil
	}, subscriptionGuard(ctx, params.Name))
	if err != nil {
		return a.errorResponse(withFieldPrefix("subscription", err))
	}
	return subscriptions.NewPatchSubscriptionOK().WithPayload(&models.SubscriptionWrapper{Subscription: subscriptionToModel(updated)})
}

// DeleteSubscription deletes a subscription of the caller's; its deliveries stay.
func (a *API) DeleteSubscription(ctx context.Context, params subscriptions.DeleteSubscriptionParams) middleware.Responder {
	if err := a.store.DeleteSubscription(ctx, params.Name, subscriptionGuard(ctx, params.Name)); err != nil {
		return a.errorResponse(err)
	}
	return subscriptions.NewDeleteSubscriptionNoContent()
}

// ListDeadLetters answers one page of a subscription's DEAD_LETTERED deliveries, oldest
// first: those made for it (its ID), never for an earlier subscription of its name.
func (a *API) ListDeadLetters(ctx context.Context, params subscriptions.ListDeadLettersParams) middleware.Responder {
	sub, err := a.subscription(ctx, params.Name)
	if err != nil {
		return a.errorResponse(err)
	}
	f := store.DeliveryFilter{SubscriptionID: sub.ID, Status: store.DeliveryDeadLettered}
	list, next, err := a.store.ListDeliveries(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.DeliveriesWrapper{Deliveries: make([]*models.Delivery, 0, len(list)), NextCursor: next}
	who := caller(ctx)
	for _, d := range list {
		if mayUse(who, d.Owner) { // not those made for an earlier subscription of the name, another's
			out.Deliveries = append(out.Deliveries, deliveryToModel(d, ""))
		}
	}
	return subscriptions.NewListDeadLettersOK().WithPayload(out)
}

// subscription reads a subscription the caller may see; another's is not found.
func (a *API) subscription(ctx context.Context, name string) (store.Subscription, error) {
	s, err := a.store.GetSubscription(ctx, name)
	if err == nil {
		err = subscriptionGuard(ctx, name)(s.Owner)
	}
	return s, err
}

// subscriptionGuard is the ownership check of a subscription.
func subscriptionGuard(ctx context.Context, name string) store.AppGuard {
	return ownerGuard(ctx, store.NotFound("subscription", name))
}
