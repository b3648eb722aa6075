package storetest

import (
	"context"

	"github.com/gantry-dev/gantry/store"
)

// The spy's methods of store.Secrets and store.SecretValues (see spy).

// ---- Secrets ----

func (s *spy) CreateSecret(ctx context.Context, sec store.Secret) (store.Secret, error) {
	s.note()
	return s.Store.CreateSecret(ctx, sec)
}

func (s *spy) UpdateSecret(ctx context.Context, name string, fn func(*store.Secret) error, guard store.SecretGuard) (store.Secret, error) {
	s.note()
	return s.Store.UpdateSecret(ctx, name, fn, guard)
}

func (s *spy) GetSecret(ctx context.Context, name string) (store.Secret, error) {
	s.note()
	return s.Store.GetSecret(ctx, name)
}

func (s *spy) ListSecrets(ctx context.Context, f store.SecretFilter, page store.Page) ([]store.Secret, string, error) {
	s.note()
	return s.Store.ListSecrets(ctx, f, page)
}

func (s *spy) PendingSecrets(ctx context.Context) ([]store.Secret, error) {
	s.note()
	return s.Store.PendingSecrets(ctx)
}

func (s *spy) DeleteSecret(ctx context.Context, name string, guard func(store.Secret) error) error {
	s.note()
	return s.Store.DeleteSecret(ctx, name, guard)
}

// ---- SecretValues ----

func (s *spy) PutSecretValue(ctx context.Context, path string, sealed []byte) (int, error) {
	s.note()
	return s.Store.PutSecretValue(ctx, path, sealed)
}

func (s *spy) GetSecretValue(ctx context.Context, path string, version int) ([]byte, int, error) {
	s.note()
	return s.Store.GetSecretValue(ctx, path, version)
}

func (s *spy) DestroySecretValues(ctx context.Context, path string, versions []int) error {
	s.note()
	return s.Store.DestroySecretValues(ctx, path, versions)
}

func (s *spy) DeleteSecretValues(ctx context.Context, path string) error {
	s.note()
	return s.Store.DeleteSecretValues(ctx, path)
}

func (s *spy) RewriteSecretValues(ctx context.Context, fn func(path string, version int, sealed []byte) ([]byte, error)) (int, error) {
	s.note()
	return s.Store.RewriteSecretValues(ctx, fn)
}
