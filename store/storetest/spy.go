package storetest

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// spy is the store a case gets: it passes every call to the backend and notes the name of
// the method, so that Run can tell a case that claims a method it never calls. A method
// added to store.Store reaches the backend through the embedded Store without being
// noted: the first case that claims it fails until spy has a method of that name here
// (or in secretspy.go).
type spy struct {
	store.Store
	mu    sync.Mutex
	calls map[string]bool
}

func newSpy(s store.Store) *spy { return &spy{Store: s, calls: map[string]bool{}} }

// note records that the method of spy calling it was called.
func (s *spy) note() {
	var pc [1]uintptr
	runtime.Callers(2, pc[:]) // the caller of note
	frame, _ := runtime.CallersFrames(pc[:]).Next()
	name := frame.Function[strings.LastIndexByte(frame.Function, '.')+1:]
	s.mu.Lock()
	s.calls[name] = true
	s.mu.Unlock()
}

func (s *spy) called(method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// ---- Apps ----

func (s *spy) CreateApp(ctx context.Context, app store.App) (store.App, error) {
	s.note()
	return s.Store.CreateApp(ctx, app)
}

func (s *spy) PutApp(ctx context.Context, app store.App, creator string, guard store.AppGuard) (store.App, bool, error) {
	s.note()
	return s.Store.PutApp(ctx, app, creator, guard)
}

func (s *spy) UpdateApp(ctx context.Context, name string, fn func(*store.App) error) (store.App, error) {
	s.note()
	return s.Store.UpdateApp(ctx, name, fn)
}

func (s *spy) GetApp(ctx context.Context, name string) (store.App, error) {
	s.note()
	return s.Store.GetApp(ctx, name)
}

func (s *spy) ListApps(ctx context.Context, f store.AppFilter, page store.Page) ([]store.App, string, error) {
	s.note()
	return s.Store.ListApps(ctx, f, page)
}

func (s *spy) DeleteApp(ctx context.Context, name string, guard store.AppGuard) error {
	s.note()
	return s.Store.DeleteApp(ctx, name, guard)
}

// ---- Routes ----

func (s *spy) CreateRoute(ctx context.Context, r store.Route, guard store.AppGuard) (store.Route, error) {
	s.note()
	return s.Store.CreateRoute(ctx, r, guard)
}

func (s *spy) PutRoute(ctx context.Context, r store.Route, guard store.AppGuard) (store.Route, bool, error) {
	s.note()
	return s.Store.PutRoute(ctx, r, guard)
}

func (s *spy) UpdateRoute(ctx context.Context, app, path string, fn func(*store.Route) error, guard store.AppGuard) (store.Route, error) {
	s.note()
	return s.Store.UpdateRoute(ctx, app, path, fn, guard)
}

func (s *spy) GetRoute(ctx context.Context, app, path string) (store.Route, error) {
	s.note()
	return s.Store.GetRoute(ctx, app, path)
}

func (s *spy) ListRoutes(ctx context.Context, app string, page store.Page) ([]store.Route, string, error) {
	s.note()
	return s.Store.ListRoutes(ctx, app, page)
}

func (s *spy) DeleteRoute(ctx context.Context, app, path string, guard store.AppGuard) error {
	s.note()
	return s.Store.DeleteRoute(ctx, app, path, guard)
}

// ---- Resolver ----

func (s *spy) Target(app, path, route, owner string) (store.Target, error) {
	s.note()
	return s.Store.Target(app, path, route, owner)
}

func (s *spy) MatchRoute(app, path string) (store.Route, store.Params, error) {
	s.note()
	return s.Store.MatchRoute(app, path)
}

func (s *spy) RouteByPath(app, path, owner string) (store.Route, error) {
	s.note()
	return s.Store.RouteByPath(app, path, owner)
}

func (s *spy) AppOwner(name string) (string, error) {
	s.note()
	return s.Store.AppOwner(name)
}

func (s *spy) AppsOwnedBy(owner string) map[string]string {
	s.note()
	return s.Store.AppsOwnedBy(owner)
}

func (s *spy) AppID(name string) (string, error) {
	s.note()
	return s.Store.AppID(name)
}

func (s *spy) AppConfig(name string) (map[string]string, error) {
	s.note()
	return s.Store.AppConfig(name)
}

// ---- Executions ----

func (s *spy) RecordExecution(ex store.Execution, log []byte) {
	s.note()
	s.Store.RecordExecution(ex, log)
}

func (s *spy) AppendExecutionLog(id string, tail []byte, truncated bool) {
	s.note()
	s.Store.AppendExecutionLog(id, tail, truncated)
}

func (s *spy) FlushExecutions(ctx context.Context) error {
	s.note()
	return s.Store.FlushExecutions(ctx)
}

func (s *spy) GetExecution(ctx context.Context, id string) (store.Execution, error) {
	s.note()
	return s.Store.GetExecution(ctx, id)
}

func (s *spy) GetExecutionLog(ctx context.Context, id string) ([]byte, error) {
	s.note()
	return s.Store.GetExecutionLog(ctx, id)
}

func (s *spy) ListExecutions(ctx context.Context, f store.ExecutionFilter, page store.Page) ([]store.Execution, string, error) {
	s.note()
	return s.Store.ListExecutions(ctx, f, page)
}

func (s *spy) PruneExecutions(ctx context.Context, keepPerRoute int) (int, error) {
	s.note()
	return s.Store.PruneExecutions(ctx, keepPerRoute)
}

func (s *spy) RecoverExecutions(ctx context.Context) (int, error) {
	s.note()
	return s.Store.RecoverExecutions(ctx)
}

// ---- Queue ----

func (s *spy) EnqueueTask(ctx context.Context, t store.Task, ex store.Execution) error {
	s.note()
	return s.Store.EnqueueTask(ctx, t, ex)
}

func (s *spy) LeaseTasks(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error) {
	s.note()
	return s.Store.LeaseTasks(ctx, n, owner, lease)
}

func (s *spy) LeaseTasksWithoutSecrets(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error) {
	s.note()
	return s.Store.LeaseTasksWithoutSecrets(ctx, n, owner, lease)
}

func (s *spy) CompleteTask(ctx context.Context, id, owner string, ex store.Execution, log []byte) error {
	s.note()
	return s.Store.CompleteTask(ctx, id, owner, ex, log)
}

func (s *spy) RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error {
	s.note()
	return s.Store.RetryTask(ctx, id, owner, delay, reason)
}

func (s *spy) CancelTask(ctx context.Context, id string) (string, error) {
	s.note()
	return s.Store.CancelTask(ctx, id)
}

func (s *spy) GetTask(ctx context.Context, id string) (store.Task, error) {
	s.note()
	return s.Store.GetTask(ctx, id)
}

func (s *spy) TaskStats(ctx context.Context) (store.TaskStats, error) {
	s.note()
	return s.Store.TaskStats(ctx)
}

func (s *spy) ReleaseLeases(ctx context.Context, prefix, keep string) (int, error) {
	s.note()
	return s.Store.ReleaseLeases(ctx, prefix, keep)
}

// ---- Tokens ----

func (s *spy) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	s.note()
	return s.Store.CreateToken(ctx, t)
}

func (s *spy) Bootstrapped(ctx context.Context) (bool, error) {
	s.note()
	return s.Store.Bootstrapped(ctx)
}

func (s *spy) BootstrapToken(ctx context.Context, t store.Token) error {
	s.note()
	return s.Store.BootstrapToken(ctx, t)
}

func (s *spy) GetToken(ctx context.Context, id string) (store.Token, error) {
	s.note()
	return s.Store.GetToken(ctx, id)
}

func (s *spy) ListTokens(ctx context.Context, f store.TokenFilter, page store.Page) ([]store.Token, string, error) {
	s.note()
	return s.Store.ListTokens(ctx, f, page)
}

func (s *spy) DeleteToken(ctx context.Context, id string) (int, error) {
	s.note()
	return s.Store.DeleteToken(ctx, id)
}

// ---- Sessions ----

func (s *spy) CreateSession(ctx context.Context, sess store.Session) error {
	s.note()
	return s.Store.CreateSession(ctx, sess)
}

func (s *spy) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	s.note()
	return s.Store.GetSession(ctx, id, now)
}

func (s *spy) DeleteSession(ctx context.Context, id string) error {
	s.note()
	return s.Store.DeleteSession(ctx, id)
}

func (s *spy) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	s.note()
	return s.Store.DeleteExpiredSessions(ctx, now)
}

// ---- APIs ----

func (s *spy) CreateAPI(ctx context.Context, a store.API) (store.API, error) {
	s.note()
	return s.Store.CreateAPI(ctx, a)
}

func (s *spy) UpdateAPI(ctx context.Context, name string, fn func(*store.API) error) (store.API, error) {
	s.note()
	return s.Store.UpdateAPI(ctx, name, fn)
}

func (s *spy) GetAPI(ctx context.Context, name string) (store.API, error) {
	s.note()
	return s.Store.GetAPI(ctx, name)
}

func (s *spy) ListAPIs(ctx context.Context, f store.APIFilter, page store.Page) ([]store.API, string, error) {
	s.note()
	return s.Store.ListAPIs(ctx, f, page)
}

func (s *spy) AllAPIs(ctx context.Context) ([]store.API, error) {
	s.note()
	return s.Store.AllAPIs(ctx)
}

func (s *spy) DeleteAPI(ctx context.Context, name string, guard store.AppGuard) error {
	s.note()
	return s.Store.DeleteAPI(ctx, name, guard)
}

// ---- Changes, IDSource, Node, Close ----

func (s *spy) Subscribe(fn func(store.Change)) func() {
	s.note()
	return s.Store.Subscribe(fn)
}

func (s *spy) NewID() string {
	s.note()
	return s.Store.NewID()
}

func (s *spy) InstanceID() string {
	s.note()
	return s.Store.InstanceID()
}

func (s *spy) Close() error {
	s.note()
	return s.Store.Close()
}

func (s *spy) RenewLeases(ctx context.Context, held []store.Lease, lease time.Duration) (int, []string, error) {
	s.note()
	return s.Store.RenewLeases(ctx, held, lease)
}

func (s *spy) RequestCancel(ctx context.Context, id string) error {
	s.note()
	return s.Store.RequestCancel(ctx, id)
}

func (s *spy) Heartbeat(ctx context.Context, n store.NodeInfo) error {
	s.note()
	return s.Store.Heartbeat(ctx, n)
}

func (s *spy) ListNodes(ctx context.Context, since time.Time) ([]store.NodeInfo, error) {
	s.note()
	return s.Store.ListNodes(ctx, since)
}

func (s *spy) RecoverDeadNodes(ctx context.Context, silentFor time.Duration) (int, error) {
	s.note()
	return s.Store.RecoverDeadNodes(ctx, silentFor)
}

// ---- Workflows ----

func (s *spy) PutWorkflow(ctx context.Context, w store.Workflow, guard store.AppGuard) (store.Workflow, bool, error) {
	s.note()
	return s.Store.PutWorkflow(ctx, w, guard)
}

func (s *spy) GetWorkflow(ctx context.Context, name string) (store.Workflow, error) {
	s.note()
	return s.Store.GetWorkflow(ctx, name)
}

func (s *spy) ListWorkflows(ctx context.Context, f store.WorkflowFilter, page store.Page) ([]store.Workflow, string, error) {
	s.note()
	return s.Store.ListWorkflows(ctx, f, page)
}

func (s *spy) DeleteWorkflow(ctx context.Context, name string, guard store.AppGuard) error {
	s.note()
	return s.Store.DeleteWorkflow(ctx, name, guard)
}

// ---- Runs ----

func (s *spy) CreateRun(ctx context.Context, r store.Run, events []store.RunEvent) (store.Run, bool, error) {
	s.note()
	return s.Store.CreateRun(ctx, r, events)
}

func (s *spy) GetRun(ctx context.Context, id string) (store.Run, error) {
	s.note()
	return s.Store.GetRun(ctx, id)
}

func (s *spy) ListRuns(ctx context.Context, f store.RunFilter, page store.Page) ([]store.Run, string, error) {
	s.note()
	return s.Store.ListRuns(ctx, f, page)
}

func (s *spy) ActiveRuns(ctx context.Context) ([]string, error) {
	s.note()
	return s.Store.ActiveRuns(ctx)
}

func (s *spy) UpdateRun(ctx context.Context, id string, fn func(r *store.Run) (store.RunUpdate, error)) (store.Run, error) {
	s.note()
	return s.Store.UpdateRun(ctx, id, fn)
}

func (s *spy) ListRunEvents(ctx context.Context, id string, after int64, limit int) ([]store.RunEvent, error) {
	s.note()
	return s.Store.ListRunEvents(ctx, id, after, limit)
}
