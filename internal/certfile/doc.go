// Package certfile serves a TLS certificate and private key kept in two PEM
// files and picks up a new pair written to the same paths without a restart.
//
// It owns only that: reading the pair, deciding when the files have changed,
// and handing the current certificate to crypto/tls through
// tls.Config.GetCertificate. It starts no goroutines or timers and uses no
// file-system notifications: a handshake that arrives at least checkEvery
// (one second by default) after the previous check stats both files, and if
// either file's modification time, size or identity (inode, so a rename over
// the path or a Kubernetes secret's symlink swap counts) changed, the pair is
// read again. A pair that does not load - say the certificate was written
// before its key - leaves the previous certificate in service; the failure is
// logged once and the pair is tried again at the next check.
//
// A file whose modification time is within two seconds of the check is read
// again at the following checks until it is older than that, so a second
// write that lands in the same file-system timestamp tick, with the same
// size, is not missed. The one change it cannot see is an in-place rewrite
// that keeps the size and restores the old modification time (cp -p, touch
// -r) long after the last check.
package certfile
