// Package auth owns who a caller is: Gantry API tokens (made, hashed, verified), tokens of an
// external OIDC identity source (verified against its discovery document and keys), and the
// Identity both map to, with its role; and the bcrypt work on passwords (PasswordPool), bounded
// and fair between the owners and clients it runs for. What an identity may do with a resource is decided by
// handlers, which also map this package's errors to HTTP statuses.
package auth
