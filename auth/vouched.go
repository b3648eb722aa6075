package auth

import "context"

type vouchedKey struct{}

// Vouch returns a context that carries an identity verified in process by a trusted caller
// (the web console, which checked a session): the management API and the admission of
// function calls take it instead of reading credentials from the request. A network
// request never carries one: only code in this process can build such a context.
func Vouch(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, vouchedKey{}, id)
}

// Vouched returns the identity Vouch put in ctx, if any.
func Vouched(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(vouchedKey{}).(Identity)
	return id, ok
}
