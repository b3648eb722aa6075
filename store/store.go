package store

import (
	"context"
	"time"
)

// Store is everything Gantry keeps, as one backend serves it (store/bolt, and later
// store/postgres). It is composed of one small interface per resource; consumers declare
// the narrow interfaces they use rather than take a Store. The properties written on these
// interfaces are what callers may rely on, on every backend: store/storetest checks each.
type Store interface {
	Apps
	Routes
	Resolver
	Executions
	Queue
	Tokens
	Sessions
	APIs
	Changes
	Workflows
	Runs
	Secrets
	SecretValues
	Events
	Subscriptions
	Schedules
	Images
	IDSource
	Node
	Nodes
	// Close stores every execution recorded so far and releases the store; a second Close
	// does nothing and returns nil. After Close, RecordExecution drops its record (logged)
	// without blocking and FlushExecutions fails.
	Close() error
}

// Apps are the apps. Names are unique. Writes that take an AppGuard run it inside the
// write, against the owner stored at that moment, so that the owner cannot change between
// the check and the write.
type Apps interface {
	// CreateApp stores a new app with a new ID; ErrExists if the name is taken.
	CreateApp(ctx context.Context, app App) (App, error)
	// PutApp creates the app or replaces its config; created tells which. A replaced app
	// keeps its ID and owner unless app.Owner names a new one; a created app without one
	// belongs to creator. guard vets the owner of an existing app.
	PutApp(ctx context.Context, app App, creator string, guard AppGuard) (stored App, created bool, err error)
	// UpdateApp applies fn to the stored app in one write; fn may not rename it.
	UpdateApp(ctx context.Context, name string, fn func(*App) error) (App, error)
	GetApp(ctx context.Context, name string) (App, error)
	// ListApps returns a page of the apps that pass f, in name order, and the next cursor.
	ListApps(ctx context.Context, f AppFilter, page Page) ([]App, string, error)
	// DeleteApp removes an app; ErrConflict while it has routes.
	DeleteApp(ctx context.Context, name string, guard AppGuard) error
}

// Routes are the routes of apps, keyed by app and registered path. Two routes of an app
// may not have the same shape ("/x/:id" beside "/x/:name"): ErrExists.
type Routes interface {
	// CreateRoute stores a new route of an existing app, with defaults applied. A route
	// whose Image names an image ("@name") that does not exist is refused inside the write
	// (ImageMissing, ErrInvalid), as it is by PutRoute and UpdateRoute; a DeleteImage that
	// races the write either sees the route (ErrConflict) or makes the write fail.
	CreateRoute(ctx context.Context, r Route, guard AppGuard) (Route, error)
	// PutRoute creates the route or replaces all its fields; created tells which.
	PutRoute(ctx context.Context, r Route, guard AppGuard) (stored Route, created bool, err error)
	// UpdateRoute applies fn to the stored route in one write; fn may not move it.
	UpdateRoute(ctx context.Context, app, path string, fn func(*Route) error, guard AppGuard) (Route, error)
	// GetRoute reads the route with exactly this path.
	GetRoute(ctx context.Context, app, path string) (Route, error)
	// ListRoutes returns a page of an app's routes in path order; ErrNotFound without the app.
	ListRoutes(ctx context.Context, app string, page Page) ([]Route, string, error)
	DeleteRoute(ctx context.Context, app, path string, guard AppGuard) error
}

// Resolver answers the questions of every call from memory (an Index, a cache of the
// store kept by its change feed): which route serves a path, who owns an app. On the
// node that wrote, a write is seen as soon as it returns.
type Resolver interface {
	// Target resolves a call (see Index.Target).
	Target(app, path, route, owner string) (Target, error)
	// MatchRoute resolves the most specific route of app that matches path: at every
	// segment a literal beats ":param", which beats "*rest".
	MatchRoute(app, path string) (Route, Params, error)
	// RouteByPath returns the route registered with exactly this path, of owner's app if set.
	RouteByPath(app, path, owner string) (Route, error)
	AppOwner(name string) (string, error)
	// AppsOwnedBy returns owner's apps, name to ID.
	AppsOwnedBy(owner string) map[string]string
	// CountApps counts the apps of owner ("": every app) and their routes.
	CountApps(owner string) (apps, routes int)
	AppID(name string) (string, error)
	// AppConfig returns an app's config; the map is shared: read it, never write.
	AppConfig(name string) (map[string]string, error)
}

// Executions are the records of calls. Their status changes only as CanTransition allows.
type Executions interface {
	// RecordExecution stores ex (and its log when log is not nil) without waiting for the
	// disk; reads see it at once. It is for sync calls, whose record may be lost in a
	// crash (the last few milliseconds); durable once FlushExecutions or Close returns.
	// ex.ID must come from NewID. A record that CanTransition refuses is dropped and logged:
	// against the record before it at once, against the stored one when it is written (a
	// refused record may be read until then: FlushExecutions ends that).
	RecordExecution(ex Execution, log []byte)
	// AppendExecutionLog adds output that reached a call's log after it answered.
	AppendExecutionLog(id string, tail []byte, truncated bool)
	// FlushExecutions waits until every record made before it is stored.
	FlushExecutions(ctx context.Context) error
	GetExecution(ctx context.Context, id string) (Execution, error)
	// GetExecutionLog reads the log of an execution: empty if none, ErrNotFound without it.
	GetExecutionLog(ctx context.Context, id string) ([]byte, error)
	// ListExecutions returns a page of the executions that match f, newest first.
	ListExecutions(ctx context.Context, f ExecutionFilter, page Page) ([]Execution, string, error)
	// CountExecutions counts the executions that pass f (those recorded and not yet stored
	// included): all of them, the FAILED ones and the final ones. It reads only the
	// executions created since f.Since (IDs sort by time), so a short window stays cheap.
	CountExecutions(ctx context.Context, f ExecutionCountFilter) (ExecutionCounts, error)
	// PruneExecutions keeps the newest keepPerRoute executions of each route and deletes
	// the older final ones, with their logs; it returns how many it deleted.
	PruneExecutions(ctx context.Context, keepPerRoute int) (int, error)
	// RequestCancel asks the node that runs execution id to stop it: a ChangeCancel naming
	// it reaches every subscriber on every node. ErrNotFound without the execution,
	// ErrConflict when it is final. For calls not in the queue (sync calls); a task is
	// cancelled with CancelTask.
	RequestCancel(ctx context.Context, id string) error
	// RecoverExecutions ends FAILED the sync executions a previous run of this node left
	// RUNNING (it stopped during their call). Call it at start-up, before any call runs.
	RecoverExecutions(ctx context.Context) (int, error)
}

// Queue holds the accepted async calls (tasks) until a worker has run them. Properties:
//   - Durable: EnqueueTask returns once the task and its QUEUED execution are stored.
//   - Order: LeaseTasks hands out the lowest priority value first, then the earliest
//     AvailableAt (FIFO within a priority), and only tasks available now (not in a retry
//     delay, not leased). A task keeps its place in line when its lease ends or is released.
//   - Secrets stay home: a task that needs secrets, or runs an image Gantry manages
//     (Task.StaysHome), is never leased by LeaseTasksWithoutSecrets, the lease of external
//     runners, which get no secret files and cannot resolve "@name";
//     it stays in line, in its place, for the workers that lease everything (LeaseTasks),
//     its attempts and lease untouched.
//   - Exclusive leases: a task leased to one owner is handed to no other until its lease
//     expires (or ReleaseLeases releases it), whatever the number of consumers and nodes.
//   - At least once: a task whose worker died goes back to the queue when its lease
//     expires, with no one having to notice; its next lease counts another attempt. A
//     live holder keeps its leases with RenewLeases, so leases can be short.
//   - Only the lease holder may complete or retry a task: ErrConflict when the lease is
//     another's or expired, ErrNotFound when the task is gone (finished, cancelled, or
//     dropped because its execution was final or gone).
type Queue interface {
	// EnqueueTask stores an accepted async call and its QUEUED execution in one write.
	EnqueueTask(ctx context.Context, t Task, ex Execution) error
	// LeaseTasks leases up to n available tasks to owner for lease; their executions
	// become RUNNING on this node (Node: InstanceID, the node whose workers run them, or
	// that handed them to an external runner).
	LeaseTasks(ctx context.Context, n int, owner string, lease time.Duration) ([]Task, error)
	// LeaseTasksWithoutSecrets leases as LeaseTasks does, in the same order, but only
	// tasks that may leave home (not Task.StaysHome: no secrets, no "@name" image): the lease
	// of external runners, which could get a secret's name but never its files, nor resolve
	// an image Gantry manages. Another task is never leased to them; it stays in line, in its
	// place, for the workers that lease everything.
	LeaseTasksWithoutSecrets(ctx context.Context, n int, owner string, lease time.Duration) ([]Task, error)
	// RenewLeases extends to now+lease each of the held leases that is still in force
	// (a node's heartbeat for the calls its workers run) and returns how many it
	// extended, and the IDs among those whose cancel was asked for (CancelTask): the node
	// stops them, should it have missed their ChangeCancel. A lease that ended already is
	// not renewed (its task may be another's by now), nor one held by another owner.
	RenewLeases(ctx context.Context, held []Lease, lease time.Duration) (renewed int, cancelled []string, err error)
	// CompleteTask ends a task owner leases, storing its final execution and log.
	CompleteTask(ctx context.Context, id, owner string, ex Execution, log []byte) error
	// RetryTask returns a task owner leases to the queue, available after delay (at its
	// place in line when delay is 0: a call handed back by a node that shuts down); its
	// execution is QUEUED again. A task cancelled while leased ends CANCELLED instead.
	RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error
	// CancelTask cancels a task: a queued one ends CANCELLED at once; a leased one is
	// marked never to run again, a ChangeCancel is sent to every node, and CancelTask
	// returns its lease's owner with ErrTaskRunning. ErrNotFound without such a task.
	CancelTask(ctx context.Context, id string) (owner string, err error)
	TaskStats(ctx context.Context) (TaskStats, error)
	// TaskStatsOf counts the tasks of the apps given, name to app ID (a task of an earlier
	// app of the same name has another ID), as TaskStats counts them all; nil: every task.
	TaskStatsOf(ctx context.Context, apps map[string]string) (TaskStats, error)
	// GetTask reads a task as it is now (its call, attempts and lease): ErrNotFound once it
	// is gone (finished, cancelled, or never was).
	GetTask(ctx context.Context, id string) (Task, error)
	// ReleaseLeases returns to the queue, in their place in line, the tasks leased to
	// owners whose name starts with prefix but not with keep: the workers of a previous run
	// of this node (dead, since its worker prefix names the node, see Node), whose leases
	// need not be waited out. Other nodes' leases, and external runners', stand.
	ReleaseLeases(ctx context.Context, prefix, keep string) (int, error)
}

// Tokens are API tokens; only hashes of their secrets are kept.
type Tokens interface {
	CreateToken(ctx context.Context, t Token) (Token, error)
	// Bootstrapped tells whether the first admin token was made.
	Bootstrapped(ctx context.Context) (bool, error)
	// BootstrapToken stores the first admin token, once: ErrExists after that, even
	// when that token was deleted since.
	BootstrapToken(ctx context.Context, t Token) error
	GetToken(ctx context.Context, id string) (Token, error)
	// ListTokens returns a page of the tokens that pass f, newest first.
	ListTokens(ctx context.Context, f TokenFilter, page Page) ([]Token, string, error)
	// DeleteToken removes a token and those it made, and theirs, in one write; it
	// returns how many tokens went, ErrNotFound without the token. The same write ends
	// every session opened with one of those tokens (Session.TokenID): once it returns,
	// no node honours them.
	DeleteToken(ctx context.Context, id string) (int, error)
}

// APIs are the gateway's APIs. Writes refuse, inside the write, an API that APIConflict
// refuses beside any other.
type APIs interface {
	CreateAPI(ctx context.Context, a API) (API, error)
	UpdateAPI(ctx context.Context, name string, fn func(*API) error) (API, error)
	GetAPI(ctx context.Context, name string) (API, error)
	// ListAPIs returns a page of the APIs that pass f, in name order.
	ListAPIs(ctx context.Context, f APIFilter, page Page) ([]API, string, error)
	// AllAPIs reads every API, for the gateway's table.
	AllAPIs(ctx context.Context) ([]API, error)
	DeleteAPI(ctx context.Context, name string, guard AppGuard) error
}

// IDSource makes the IDs of new executions, tokens and apps (see IDs).
type IDSource interface {
	NewID() string
}

// Nodes are the live nodes sharing the store, as their heartbeats tell.
type Nodes interface {
	// Heartbeat records that a node is alive now (the store's clock sets Heartbeat), with
	// its figures; the first heartbeat of a node ID also sets StartedAt, as does one with
	// another Run (the node restarted).
	Heartbeat(ctx context.Context, n NodeInfo) error
	// ListNodes returns the nodes whose last heartbeat is after since, in ID order.
	ListNodes(ctx context.Context, since time.Time) ([]NodeInfo, error)
	// RecoverDeadNodes ends FAILED the sync executions left RUNNING by nodes not heard from
	// for silentFor (by the store's clock): they died during those calls and have not come
	// back (a node that does recovers its own at start, RecoverExecutions). Executions of
	// live nodes, of nodes that never sent a heartbeat, and async ones (their leases end)
	// are left alone. It returns how many it ended.
	RecoverDeadNodes(ctx context.Context, silentFor time.Duration) (int, error)
}

// Node identifies the node (the server process's home) that opened the store. Gantry
// labels the containers it starts with it, and names its queue workers with it: at
// start-up a node reaps only containers with its own label and releases only leases of
// its own workers, never another node's. bbolt's node is its data directory.
type Node interface {
	InstanceID() string
}
