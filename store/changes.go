package store

// ChangeKind says what a Change is about.
type ChangeKind uint8

// Kinds of changes.
const (
	// ChangeReset: changes may have been missed (a subscriber fell behind, a connection to
	// the database was lost): every cache must reload what it holds.
	ChangeReset ChangeKind = iota
	ChangeApp              // an app was created, changed or deleted: App
	ChangeRoute            // a route was created, changed or deleted: App, Path
	ChangeAPI              // a gateway API was created, changed or deleted: Name
	// ChangeCancel: cancelling the call whose execution ID is Name was asked for while it
	// was running (its task leased, see Queue.CancelTask). The node running it stops it.
	ChangeCancel
	// ChangeTask: an async call was accepted (its execution is Name): an idle worker on any
	// node may lease it now rather than at its next poll.
	ChangeTask
	// ChangeRun: a workflow run changed (its status, its steps, new events): Name is the run.
	ChangeRun
	// ChangeChild: a call that a workflow run started (Task.Parent) reached a final
	// status: Name is the run, Path the call's execution. The engine moves the run on.
	ChangeChild
	// ChangeSecret: a secret's value or record changed, or it was deleted: Name is the
	// secret (its record's name). Hot containers holding it are drained.
	ChangeSecret
	// ChangeSubscription: an event subscription was created, changed or deleted: Name.
	ChangeSubscription
	// ChangeSchedule: a schedule was created, changed, deleted, or fired a tick: Name.
	ChangeSchedule
	// ChangeImage: an image was created, changed (a build started or ended) or deleted:
	// Name. Nodes running its routes' hot containers roll them to a new digest.
	ChangeImage
)

// Change names what changed, not its new value: a subscriber reads the current state,
// so changes that arrive late, twice or out of order still leave it right.
type Change struct {
	Kind ChangeKind
	App  string // ChangeApp, ChangeRoute
	Path string // ChangeRoute: the route's registered path; ChangeChild: the call's execution
	Name string // ChangeAPI: the API; ChangeCancel: the execution; ChangeRun, ChangeChild: the run; ChangeSecret: the secret;
	// ChangeSubscription, ChangeSchedule, ChangeImage: the subscription, schedule or image
}

// Changes is a store's change feed: what in-memory caches of the store (the route index,
// the gateway's table, the running calls of a node) follow to stay correct.
//
// Properties every backend keeps, checked by storetest:
//   - Every committed write of an app, route or API, every accepted task, every cancel of
//     a running task and every RequestCancel is delivered to every subscriber, on every
//     node sharing the store.
//   - On the node that made a write, the change is delivered before the write returns, so
//     a caller reads its own writes through the caches (a route created can be called at
//     once). Other nodes get it soon after; a node that may have missed changes gets a
//     ChangeReset instead.
//   - Subscribers are called one change at a time, in commit order on the writing node.
//     fn must return quickly and must not write to the store.
type Changes interface {
	// Subscribe calls fn with every change committed after it returns, until the returned
	// function returns (it waits for a delivery in progress). fn must not call Subscribe
	// or any unsubscribe function.
	Subscribe(fn func(Change)) (unsubscribe func())
}
