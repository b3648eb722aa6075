package storetest

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// The spy's methods of store.Events, store.Subscriptions and store.Schedules (see spy).

// ---- Events ----

func (s *spy) PublishEvents(ctx context.Context, events []store.EventPublish) ([]store.Published, error) {
	s.note()
	return s.Store.PublishEvents(ctx, events)
}

func (s *spy) GetEvent(ctx context.Context, key string) (store.Event, error) {
	s.note()
	return s.Store.GetEvent(ctx, key)
}

func (s *spy) ListEvents(ctx context.Context, f store.EventFilter, page store.Page) ([]store.Event, string, error) {
	s.note()
	return s.Store.ListEvents(ctx, f, page)
}

func (s *spy) GetDelivery(ctx context.Context, id string) (store.Delivery, error) {
	s.note()
	return s.Store.GetDelivery(ctx, id)
}

func (s *spy) ListDeliveries(ctx context.Context, f store.DeliveryFilter, page store.Page) ([]store.Delivery, string, error) {
	s.note()
	return s.Store.ListDeliveries(ctx, f, page)
}

func (s *spy) Redeliver(ctx context.Context, id string, next store.NewDelivery) (store.Delivery, error) {
	s.note()
	return s.Store.Redeliver(ctx, id, next)
}

// ---- Subscriptions ----

func (s *spy) CreateSubscription(ctx context.Context, sub store.Subscription) (store.Subscription, error) {
	s.note()
	return s.Store.CreateSubscription(ctx, sub)
}

func (s *spy) UpdateSubscription(ctx context.Context, name string, fn func(*store.Subscription) error, guard store.AppGuard) (store.Subscription, error) {
	s.note()
	return s.Store.UpdateSubscription(ctx, name, fn, guard)
}

func (s *spy) GetSubscription(ctx context.Context, name string) (store.Subscription, error) {
	s.note()
	return s.Store.GetSubscription(ctx, name)
}

func (s *spy) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter, page store.Page) ([]store.Subscription, string, error) {
	s.note()
	return s.Store.ListSubscriptions(ctx, f, page)
}

func (s *spy) AllSubscriptions(ctx context.Context) ([]store.Subscription, error) {
	s.note()
	return s.Store.AllSubscriptions(ctx)
}

func (s *spy) DeleteSubscription(ctx context.Context, name string, guard store.AppGuard) error {
	s.note()
	return s.Store.DeleteSubscription(ctx, name, guard)
}

// ---- Schedules ----

func (s *spy) CreateSchedule(ctx context.Context, sc store.Schedule) (store.Schedule, error) {
	s.note()
	return s.Store.CreateSchedule(ctx, sc)
}

func (s *spy) UpdateSchedule(ctx context.Context, name string, fn func(*store.Schedule) error, guard store.AppGuard) (store.Schedule, error) {
	s.note()
	return s.Store.UpdateSchedule(ctx, name, fn, guard)
}

func (s *spy) GetSchedule(ctx context.Context, name string) (store.Schedule, error) {
	s.note()
	return s.Store.GetSchedule(ctx, name)
}

func (s *spy) ListSchedules(ctx context.Context, f store.ScheduleFilter, page store.Page) ([]store.Schedule, string, error) {
	s.note()
	return s.Store.ListSchedules(ctx, f, page)
}

func (s *spy) AllSchedules(ctx context.Context) ([]store.Schedule, error) {
	s.note()
	return s.Store.AllSchedules(ctx)
}

func (s *spy) DeleteSchedule(ctx context.Context, name string, guard store.AppGuard) error {
	s.note()
	return s.Store.DeleteSchedule(ctx, name, guard)
}

func (s *spy) ClaimTick(ctx context.Context, id, name string, seen, tick, next time.Time, call *store.StepCall) (bool, error) {
	s.note()
	return s.Store.ClaimTick(ctx, id, name, seen, tick, next, call)
}
