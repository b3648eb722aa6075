//go:build !unix

package runner

import "context"

// lockFile takes no lock where flock is not available.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
