package handlers

import (
	"context"
	"encoding/base64"
	"time"
	"unicode/utf8"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/tasks"
	"github.com/gantry-dev/gantry/store"
)

// runnerOwner names an external runner's leases, apart from Gantry's own workers ("gantry@").
func runnerOwner(name string) string { return "runner:" + name }

// LeaseTasks leases queued async calls to an external runner: only calls without secrets,
// since a runner could get their names but never their files; those wait in line for
// Gantry's own workers.
func (a *API) LeaseTasks(ctx context.Context, params tasks.LeaseTasksParams) middleware.Responder {
	if err := requireAdmin(ctx, "leasing tasks"); err != nil {
		return a.errorResponse(err)
	}
	n, lease := int64(1), int64(60)
	if params.N != nil {
		n = *params.N
	}
	if params.Lease != nil {
		lease = *params.Lease
	}
	leased, err := a.store.LeaseTasksWithoutSecrets(ctx, int(n), runnerOwner(params.Runner), time.Duration(lease)*time.Second)
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.TasksWrapper{Tasks: make([]*models.Task, 0, len(leased))}
	for _, t := range leased {
		out.Tasks = append(out.Tasks, taskToModel(t))
	}
	return tasks.NewLeaseTasksOK().WithPayload(out)
}

// ReportTaskResult ends a task leased to an external runner with its outcome; or, for a
// failed event delivery whose subscription's retry policy has attempts left, returns it to
// the queue after the policy's backoff, as Gantry's own workers do (the execution is
// QUEUED again, the failure in its error).
func (a *API) ReportTaskResult(ctx context.Context, params tasks.ReportTaskResultParams) middleware.Responder {
	if err := requireAdmin(ctx, "reporting task results"); err != nil {
		return a.errorResponse(err)
	}
	in := params.Body
	ex, log, err := a.taskResult(in)
	if err != nil {
		return a.errorResponse(err)
	}
	owner := runnerOwner(*in.Runner)
	if delay, again := a.retryDelivery(ctx, params.ID, owner, ex); again {
		err = a.store.RetryTask(ctx, params.ID, owner, delay, "the runner reported "+ex.Reason+": "+ex.Error)
	} else {
		err = a.store.CompleteTask(ctx, params.ID, owner, ex, log)
	}
	if err != nil {
		return a.errorResponse(err)
	}
	done, err := a.store.GetExecution(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	return tasks.NewReportTaskResultOK().WithPayload(&models.ExecutionWrapper{Execution: executionToModel(done)})
}

// retryDelivery reports whether a task that an external runner reports ended with ex runs
// again, and after what delay: a FAILED event delivery (for whatever reason: the runner's
// failures count against the same attempts as the function's, as Gantry's own and Docker's
// do for Gantry's workers) whose retry policy has attempts left, after the policy's
// backoff. Other tasks (and a task not, or no longer, leased to owner: the store then
// refuses the report) end with the report.
func (a *API) retryDelivery(ctx context.Context, id, owner string, ex store.Execution) (time.Duration, bool) {
	if ex.Status != store.StatusFailed {
		return 0, false
	}
	t, err := a.store.GetTask(ctx, id)
	if err != nil || t.LeaseOwner != owner || t.Retry == nil || t.CancelRequested || t.Attempts >= t.Retry.MaxAttempts {
		return 0, false
	}
	return t.Retry.Delay(t.Attempts), true
}

// taskResult checks an external runner's report and turns it into the final execution and
// its log, capped like the server's own calls.
func (a *API) taskResult(in *models.TaskResult) (store.Execution, []byte, error) {
	ex := store.Execution{Status: *in.Status, Reason: in.Reason, Error: in.Error}
	switch {
	case ex.Status == store.StatusSuccess && (ex.Reason != "" || ex.Error != ""):
		return ex, nil, errInvalidField("reason", "a SUCCESS has no reason or error")
	case ex.Status == store.StatusFailed && ex.Reason == "":
		ex.Reason = store.ReasonError
	}
	if in.ExitCode != nil {
		if *in.ExitCode < 0 || *in.ExitCode > 255 {
			return ex, nil, errInvalidField("exit_code", "exit_code must be between 0 and 255")
		}
		code := int(*in.ExitCode)
		ex.ExitCode = &code
	}
	if ex.Reason == store.ReasonBadExit && (ex.ExitCode == nil || *ex.ExitCode == 0) {
		return ex, nil, errInvalidField("exit_code", "a bad_exit needs the non-zero exit_code")
	}
	ex.Output, ex.OutputTruncated = capBytes([]byte(in.Output), a.maxOutput)
	log, truncated := capBytes([]byte(in.Log), a.maxLog)
	ex.LogTruncated = truncated
	return ex, log, nil
}

func capBytes(b []byte, max int) ([]byte, bool) {
	if len(b) > max {
		return b[:max], true
	}
	return b, false
}

// GetTaskStats answers the depth and age of the async queue.
func (a *API) GetTaskStats(ctx context.Context, _ tasks.GetTaskStatsParams) middleware.Responder {
	if err := requireAdmin(ctx, "the task queue's stats"); err != nil {
		return a.errorResponse(err)
	}
	st, err := a.store.TaskStats(ctx)
	if err != nil {
		return a.errorResponse(err)
	}
	queued, running, delayed := int64(st.Queued), int64(st.Running), int64(st.Delayed)
	out := &models.TaskStats{Queued: &queued, Running: &running, Delayed: &delayed}
	if !st.OldestAt.IsZero() {
		out.OldestAgeSeconds = time.Since(st.OldestAt).Seconds()
	}
	return tasks.NewGetTaskStatsOK().WithPayload(out)
}

func taskToModel(t store.Task) *models.Task {
	id, app, path, image, method, url := t.ID, t.Route.App, t.Route.Path, t.Route.Image, t.Method, t.URL
	attempts := int64(t.Attempts)
	until := strfmt.DateTime(t.LeaseUntil.UTC())
	m := &models.Task{
		ID: &id, App: &app, Route: &path, Image: &image, Format: t.Route.Format, Timeout: t.Route.Timeout,
		Method: &method, URL: &url, Headers: t.Header, Params: t.Params, Config: mergeConfig(t.AppConfig, t.Route.Config),
		Attempts: &attempts, LeaseUntil: &until,
	}
	if utf8.Valid(t.Body) {
		m.Body = string(t.Body)
	} else {
		m.Body, m.BodyEncoding = base64.StdEncoding.EncodeToString(t.Body), "base64"
	}
	return m
}
