//go:build !linux

package runner

import "os"

// onTmpfs cannot tell outside Linux; it does not warn.
func onTmpfs(string) (bool, error) { return true, nil }

// fileOwner cannot tell outside Linux; the owner is not checked.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }
