package handlers

import (
	"maps"
	"slices"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
)

func dateTime(t time.Time) *strfmt.DateTime {
	if t.IsZero() {
		return nil
	}
	d := strfmt.DateTime(t.UTC())
	return &d
}

func appToModel(a store.App) *models.App {
	return &models.App{Name: a.Name, Config: a.Config, Owner: a.Owner, CreatedAt: dateTime(a.CreatedAt), UpdatedAt: dateTime(a.UpdatedAt)}
}

func routeToModel(r store.Route) *models.Route {
	m := &models.Route{
		Path:           r.Path,
		Image:          r.Image,
		Type:           r.Type,
		Format:         r.Format,
		Memory:         &r.MemoryMiB,
		Timeout:        &r.Timeout,
		IdleTimeout:    &r.IdleTimeout,
		MaxConcurrency: &r.MaxConcurrency,
		MaxRetries:     &r.MaxRetries,
		Network:        r.Network,
		Auth:           r.Auth,
		Headers:        r.Headers,
		Config:         r.Config,
		Secrets:        r.Secrets,
		CreatedAt:      dateTime(r.CreatedAt),
		UpdatedAt:      dateTime(r.UpdatedAt),
	}
	if r.CPUs != 0 {
		m.Cpus = &r.CPUs
	}
	if m.Secrets == nil {
		m.Secrets = []string{} // always answered: [] when none
	}
	return m
}

// routeFromModel builds a whole route (POST, PUT) from the model; absent fields stay zero
// so that the store applies their defaults.
func routeFromModel(app, path string, m *models.Route) store.Route {
	r := store.Route{App: app, Path: path}
	patchRoute(&r, m)
	return r
}

// patchRoute sets the fields present in m (PATCH). Config keys set to "" and headers set
// to an empty list are removed. Secrets given replace the route's (an empty list removes
// them); absent or null, they stay.
func patchRoute(r *store.Route, m *models.Route) {
	if m.Image != "" {
		r.Image = m.Image
	}
	if m.Type != "" {
		r.Type = m.Type
	}
	if m.Format != "" {
		r.Format = m.Format
	}
	if m.Network != "" {
		r.Network = m.Network
	}
	if m.Auth != "" {
		r.Auth = m.Auth
	}
	setIfPresent(&r.MemoryMiB, m.Memory)
	setIfPresent(&r.CPUs, m.Cpus)
	setIfPresent(&r.Timeout, m.Timeout)
	setIfPresent(&r.IdleTimeout, m.IdleTimeout)
	setIfPresent(&r.MaxConcurrency, m.MaxConcurrency)
	setIfPresent(&r.MaxRetries, m.MaxRetries)
	r.Config = mergeConfig(r.Config, m.Config)
	if m.Secrets != nil {
		r.Secrets = slices.Clone(m.Secrets)
	}
	if len(m.Headers) > 0 {
		headers := maps.Clone(r.Headers)
		if headers == nil {
			headers = map[string][]string{}
		}
		for k, v := range m.Headers {
			if len(v) == 0 {
				delete(headers, k)
			} else {
				headers[k] = v
			}
		}
		r.Headers = headers
	}
}

func setIfPresent[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// mergeConfig returns base with patch merged in; keys whose value is "" are removed.
// base is not modified.
func mergeConfig(base, patch map[string]string) map[string]string {
	if len(patch) == 0 {
		return base
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range patch {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// executionToModel converts an execution record. Output is sent as a string: bytes that
// are not UTF-8 come out as U+FFFD in JSON.
func executionToModel(e store.Execution) *models.Execution {
	m := &models.Execution{
		ID:              e.ID,
		Kind:            kindCall,
		App:             e.App,
		Parent:          e.Parent,
		Step:            e.Step,
		Route:           e.Route,
		Type:            e.Type,
		Status:          e.Status,
		Reason:          e.Reason,
		Error:           e.Error,
		Container:       e.Container,
		Node:            e.Node,
		CreatedAt:       dateTime(e.CreatedAt),
		StartedAt:       dateTime(e.StartedAt),
		CompletedAt:     dateTime(e.CompletedAt),
		OutputTruncated: e.OutputTruncated,
		Attempts:        int64(e.Attempts),
		LogTruncated:    e.LogTruncated,
		Output:          string(e.Output),
		ImageDigest:     e.ImageDigest,
	}
	if e.ExitCode != nil {
		code := int64(*e.ExitCode)
		m.ExitCode = &code
	}
	if !e.StartedAt.IsZero() && !e.CompletedAt.IsZero() {
		ms := e.Duration().Milliseconds()
		m.DurationMs = &ms
	}
	return m
}
