package main

// This file computes what `gantry apply` does: per resource, create, update (naming each
// differing field, old → new) or nothing; with --prune, delete what the caller owns and
// the file no longer names. It works on JSON values only (no API calls), so that the
// rules below are tested on their own:
//
//   - A field the file leaves out is not managed: apply never changes it.
//   - A field the file gives is compared with the server's value. A nested object (a
//     route's API function, a subscription's filter) is compared on the fields the file
//     gives in it; maps (config, headers) and lists are compared whole.
//   - Write-only fields (an API user's password) are never compared: the server never
//     returns them. They are sent when the value holding them is.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// kind is a kind of resource a project file declares.
type kind string

const (
	kindImage        kind = "image"
	kindApp          kind = "app"
	kindRoute        kind = "route"
	kindAPI          kind = "api"
	kindWorkflow     kind = "workflow"
	kindSubscription kind = "subscription"
	kindSchedule     kind = "schedule"
)

// kindInfo is where a kind sits in the file and what its entries may hold.
type kindInfo struct {
	name    kind
	section string // the top-level key of the file ("" for routes, held by apps)
	schema  reflect.Type
}

// kinds in dependency order: each may refer to those before it (an image to its base, a
// route to its app or image, an API to a route, a workflow to routes, a subscription or schedule to a workflow). Creates
// and updates run in this order, deletes in the reverse.
var kinds = []kindInfo{
	{kindImage, "images", reflect.TypeFor[fileImage]()},
	{kindApp, "apps", reflect.TypeFor[fileApp]()},
	{kindRoute, "", reflect.TypeFor[fileRoute]()},
	{kindAPI, "apis", reflect.TypeFor[fileAPI]()},
	{kindWorkflow, "workflows", reflect.TypeFor[fileWorkflow]()},
	{kindSubscription, "subscriptions", reflect.TypeFor[fileSubscription]()},
	{kindSchedule, "schedules", reflect.TypeFor[fileSchedule]()},
}

func kindOf(k kind) kindInfo {
	for _, ki := range kinds {
		if ki.name == k {
			return ki
		}
	}
	panic("unknown kind " + string(k)) // a bug: every kind is in the table
}

func kindRank(k kind) int {
	return slices.IndexFunc(kinds, func(ki kindInfo) bool { return ki.name == k })
}

// op is what apply does to one resource.
type op byte

const (
	opCreate op = '+'
	opUpdate op = '~'
	opDelete op = '-'
)

// fieldChange is one field an update changes.
type fieldChange struct {
	name     string
	old, new any
}

// change is one step of a plan.
type change struct {
	op     op
	kind   kind
	key    string
	decl   *declared     // the file's entry (create, update)
	fields []fieldChange // update: the fields that differ, in schema order
	body   spec          // create: every declared field; update: what the PATCH (or PUT) sends
}

// state is what the caller owns now: per kind, per key, the resource as JSON values
// projected on the file's schema (see project).
type state map[kind]map[string]spec

func (st state) put(k kind, key string, v spec) {
	if st[k] == nil {
		st[k] = map[string]spec{}
	}
	st[k][key] = v
}

// planOptions are apply's choices.
type planOptions struct {
	prune         bool // delete what the file does not name
	rebuildImages bool // build (or load) again every image the file gives a context (or tarball) for
}

// rebuildField is the field an image's plan line shows when it is built again.
const rebuildField = "rebuild"

// plan compares the file with the state. Creates and updates come in dependency order
// (then the file's order, except that an image comes after the image it is built on);
// deletes, with prune, in the reverse order.
func plan(decls []declared, cur state, opts planOptions) []change {
	var out []change
	named := map[kind]map[string]bool{}
	for _, i := range declOrder(decls) {
		d := &decls[i]
		if named[d.kind] == nil {
			named[d.kind] = map[string]bool{}
		}
		named[d.kind][d.key] = true
		have, exists := cur[d.kind][d.key]
		if !exists {
			out = append(out, change{op: opCreate, kind: d.kind, key: d.key, decl: d, body: sendable(d.spec, kindOf(d.kind).schema)})
			continue
		}
		fields := diffFields(d.spec, have, kindOf(d.kind).schema)
		if d.kind == kindImage && opts.rebuildImages && len(fields) == 0 {
			if p := imageUpload(d.spec); p != "" {
				fields = append(fields, fieldChange{name: rebuildField, new: p})
			}
		}
		if len(fields) == 0 {
			continue
		}
		out = append(out, change{op: opUpdate, kind: d.kind, key: d.key, decl: d, fields: fields, body: updateBody(d, have, fields)})
	}
	sort.SliceStable(out, func(i, j int) bool { return kindRank(out[i].kind) < kindRank(out[j].kind) })
	if !opts.prune {
		return out
	}
	for i := len(kinds) - 1; i >= 0; i-- {
		k := kinds[i].name
		keys := make([]string, 0, len(cur[k]))
		for key := range cur[k] {
			if !named[k][key] {
				keys = append(keys, key)
			}
		}
		sort.Strings(keys)
		if k == kindImage { // an image before the one it is built on
			keys = basesFirst(keys, cur[kindImage])
			slices.Reverse(keys)
		}
		for _, key := range keys {
			out = append(out, change{op: opDelete, kind: k, key: key})
		}
	}
	return out
}

// declOrder is the order in which plan visits decls: the file's order, except that a
// declared image comes after the declared image it is built on (its base "@NAME"), so
// that a file may list a function image before its base. The file has no base cycle
// (checkImageBases).
func declOrder(decls []declared) []int {
	imgs := map[string]spec{}
	var names []string
	at := map[string]int{}
	for i, d := range decls {
		if d.kind == kindImage {
			imgs[d.key] = d.spec
			names = append(names, d.key)
			at[d.key] = i
		}
	}
	ordered := basesFirst(names, imgs)
	out := make([]int, 0, len(decls))
	next := 0
	for i, d := range decls {
		if d.kind == kindImage { // the image slots keep their places, filled in base order
			i = at[ordered[next]]
			next++
		}
		out = append(out, i)
	}
	return out
}

// unmanaged counts what the caller owns that the file does not name (kept without --prune).
func unmanaged(decls []declared, cur state) int {
	n := 0
	for k, byKey := range cur {
		for key := range byKey {
			if !slices.ContainsFunc(decls, func(d declared) bool { return d.kind == k && d.key == key }) {
				n++
			}
		}
	}
	return n
}

// diffFields lists the declared fields of want whose value differs from have's.
func diffFields(want, have spec, t reflect.Type) []fieldChange {
	var out []fieldChange
	for _, f := range schemaFields(t) {
		w, declared := want[f.name]
		if !declared || f.writeOnly || f.fileOnly {
			continue
		}
		if !covers(w, have[f.name], f.typ) {
			out = append(out, fieldChange{name: f.name, old: have[f.name], new: w})
		}
	}
	return out
}

// covers tells whether the server's value have matches the file's value want of schema
// type t: objects on the fields want gives, maps and lists whole, write-only fields never.
func covers(want, have any, t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isEmpty(want) && isEmpty(have) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		w, _ := want.(map[string]any)
		h, _ := have.(map[string]any)
		for _, f := range schemaFields(t) {
			wv, given := w[f.name]
			if !given || f.writeOnly || f.fileOnly {
				continue
			}
			if !covers(wv, h[f.name], f.typ) {
				return false
			}
		}
		return true
	case reflect.Map:
		w, _ := want.(map[string]any)
		h, _ := have.(map[string]any)
		if len(w) != len(h) {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok || !covers(wv, hv, t.Elem()) {
				return false
			}
		}
		return true
	case reflect.Slice:
		w, _ := want.([]any)
		h, _ := have.([]any)
		if len(w) != len(h) {
			return false
		}
		for i := range w {
			if !covers(w[i], h[i], t.Elem()) {
				return false
			}
		}
		return true
	default: // scalars and free-form JSON
		return reflect.DeepEqual(want, have)
	}
}

// isEmpty tells whether v is absent or the zero value of its JSON kind, which the server
// leaves out of its answers (omitempty).
func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

// sendable is v without the fields the API does not take (those only the file has).
func sendable(v spec, t reflect.Type) spec {
	out := make(spec, len(v))
	for _, f := range schemaFields(t) {
		if x, ok := v[f.name]; ok && !f.fileOnly {
			out[f.name] = x
		}
	}
	return out
}

// updateBody is what an update sends: for a workflow, the whole definition (PUT, a new
// version); else a PATCH of the differing fields, where a config drops the keys the file
// no longer has (`"K": ""`) and headers the names it no longer has (`"H": []`), since
// PATCH merges those two maps.
func updateBody(d *declared, have spec, fields []fieldChange) spec {
	if d.kind == kindWorkflow {
		return sendable(d.spec, kindOf(d.kind).schema)
	}
	body := spec{}
	for _, f := range fields {
		body[f.name] = f.new
		if d.kind != kindApp && d.kind != kindRoute {
			continue
		}
		var removed any
		switch f.name {
		case "config":
			removed = ""
		case "headers":
			removed = []any{}
		default:
			continue
		}
		merged := map[string]any{}
		if w, ok := f.new.(map[string]any); ok {
			for k, v := range w {
				merged[k] = v
			}
		}
		if h, ok := have[f.name].(map[string]any); ok {
			for k := range h {
				if _, kept := merged[k]; !kept {
					merged[k] = removed
				}
			}
		}
		body[f.name] = merged
	}
	return body
}

// project turns a resource as the server answers it (JSON) into the file's shape: the
// fields the file's schema t has, without write-only ones and empty values. It is how the
// state is compared and what `gantry export` writes.
func project(v any, t reflect.Type) any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isEmpty(v) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := map[string]any{}
		for _, f := range schemaFields(t) {
			if f.writeOnly || f.fileOnly {
				continue
			}
			if p := project(m[f.name], f.typ); p != nil {
				out[f.name] = p
			}
		}
		return out
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = project(e, t.Elem())
		}
		return out
	default:
		return v
	}
}

// toJSONValue converts a model (a generated struct) into JSON values.
func toJSONValue(model any) (map[string]any, error) {
	b, err := json.Marshal(model)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// fromJSONValue fills a model (pointer to a generated struct) from JSON values.
func fromJSONValue(v spec, model any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, model)
}

// describe is one line of a plan: "+ route demo/hello", "~ app demo: config {...} → {...}".
func (c change) describe() string {
	line := fmt.Sprintf("%c %s %s", c.op, c.kind, c.key)
	if c.op != opUpdate {
		return line
	}
	parts := make([]string, len(c.fields))
	for i, f := range c.fields {
		if f.name == rebuildField {
			parts[i] = fmt.Sprintf("%s from %s", f.name, showValue(f.new))
			continue
		}
		parts[i] = fmt.Sprintf("%s %s → %s", f.name, showValue(f.old), showValue(f.new))
	}
	return line + ": " + strings.Join(parts, ", ")
}

// showValue renders a JSON value for a plan line.
func showValue(v any) string {
	if isEmpty(v) {
		return "(none)"
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// imageUpload is the path an image is built or loaded from: its context or its tarball
// ("" for a reference, or when the file gives neither).
func imageUpload(v spec) string {
	if p, ok := v["context"].(string); ok {
		return p
	}
	p, _ := v["load"].(string)
	return p
}
