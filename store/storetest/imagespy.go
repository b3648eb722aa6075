package storetest

import (
	"context"

	"github.com/gantry-dev/gantry/store"
)

// The spy's methods of store.Images (see spy).

func (s *spy) CreateImage(ctx context.Context, img store.Image) (store.Image, error) {
	s.note()
	return s.Store.CreateImage(ctx, img)
}

func (s *spy) UpdateImage(ctx context.Context, name string, fn func(*store.Image) error, guard store.AppGuard) (store.Image, error) {
	s.note()
	return s.Store.UpdateImage(ctx, name, fn, guard)
}

func (s *spy) GetImage(ctx context.Context, name string) (store.Image, error) {
	s.note()
	return s.Store.GetImage(ctx, name)
}

func (s *spy) ListImages(ctx context.Context, f store.ImageFilter, page store.Page) ([]store.Image, string, error) {
	s.note()
	return s.Store.ListImages(ctx, f, page)
}

func (s *spy) DeleteImage(ctx context.Context, name string, guard store.AppGuard, check func(store.Image) error) error {
	s.note()
	return s.Store.DeleteImage(ctx, name, guard, check)
}

func (s *spy) ImageUsers(ctx context.Context, name string, limit int) ([]store.ImageUser, error) {
	s.note()
	return s.Store.ImageUsers(ctx, name, limit)
}

func (s *spy) SetImageLog(ctx context.Context, name, build string, log []byte) error {
	s.note()
	return s.Store.SetImageLog(ctx, name, build, log)
}

func (s *spy) GetImageLog(ctx context.Context, name string) ([]byte, error) {
	s.note()
	return s.Store.GetImageLog(ctx, name)
}

func (s *spy) ListAllRoutes(ctx context.Context, f store.RouteFilter, page store.Page) ([]store.Route, string, error) {
	s.note()
	return s.Store.ListAllRoutes(ctx, f, page)
}
