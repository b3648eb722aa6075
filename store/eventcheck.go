package store

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// subscriptionName is what a subscription's name may be.
var subscriptionName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// extensionName is what the name of a CloudEvents extension attribute may be: lowercase
// letters and digits, at most 20 (the CloudEvents 1.0 naming rule).
var extensionName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// SpecVersion is the one CloudEvents version Gantry takes.
const SpecVersion = "1.0"

// Bounds of events and subscriptions.
const (
	// MaxEventAttr bounds the length of each attribute of an event (id, source, type,
	// subject, an extension's value, ...) and of the fields of a subscription's filter.
	MaxEventAttr = 1024
	// MaxEventExtensions bounds the extension attributes of an event.
	MaxEventExtensions = 32
	// MaxEventAttributeBytes bounds an event's attributes together, as EventAttributeBytes
	// counts them, so that any event fits a delivery's call: a default-format function gets
	// each attribute three times in its environment (FN_HEADER_CE_<NAME>, HEADER_CE_<NAME>
	// and CE_<NAME>), within the runner's bound of 64 KiB of environment for the request
	// headers (runner.MaxHeaderEnvBytes), which 3*16000 bytes and the names' overhead stay
	// under (the events package tests it).
	MaxEventAttributeBytes = 16000
	// Bounds of a subscription's retry policy.
	MinRetryAttempts = 1
	MaxRetryAttempts = 100
	MinRetryInitial  = 100 * time.Millisecond
	MaxRetryBackoff  = time.Hour
)

// coreAttributes are the attribute names CloudEvents 1.0 defines (and the members of its
// JSON format): an extension may not take one.
var coreAttributes = map[string]bool{
	"id": true, "source": true, "type": true, "specversion": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "data_base64": true,
}

// ValidateEvent checks an event's CloudEvents attributes: id, source, type and
// specversion (1.0 only) present, every attribute within MaxEventAttr, extensions named as
// CloudEvents requires (lowercase a-z and 0-9, at most 20) and not a core attribute's name,
// and all of them within MaxEventAttributeBytes. A ValidationError names the attribute
// (its Field is the attribute's name, or "attributes" for their total).
func ValidateEvent(e Event) error {
	if e.SpecVersion == "" {
		return Invalid("specversion", "the event has no specversion (CloudEvents 1.0: %q)", SpecVersion)
	}
	if e.SpecVersion != SpecVersion {
		return Invalid("specversion", "specversion %q is not supported: Gantry takes CloudEvents %s only", e.SpecVersion, SpecVersion)
	}
	for _, a := range []struct{ name, value string }{{"id", e.EventID}, {"source", e.Source}, {"type", e.Type}} {
		if a.value == "" {
			return Invalid(a.name, "the event has no %s (a required CloudEvents attribute)", a.name)
		}
	}
	for _, a := range []struct{ name, value string }{
		{"id", e.EventID}, {"source", e.Source}, {"type", e.Type}, {"subject", e.Subject},
		{"datacontenttype", e.DataContentType}, {"dataschema", e.DataSchema},
	} {
		if err := checkEventString(a.name, a.value); err != nil {
			return err
		}
	}
	if len(e.Extensions) > MaxEventExtensions {
		return Invalid("extensions", "an event has at most %d extension attributes, not %d", MaxEventExtensions, len(e.Extensions))
	}
	for name, v := range e.Extensions {
		if err := ValidateExtensionName(name); err != nil {
			return err
		}
		if err := checkEventString(name, v); err != nil {
			return err
		}
	}
	if n := EventAttributeBytes(e); n > MaxEventAttributeBytes {
		return Invalid("attributes", "the event's attributes take %d bytes as ce-* headers, more than %d (each is counted with its name and 11 bytes, its value as the header carries it, percent-encoded)", n, MaxEventAttributeBytes)
	}
	return nil
}

// EventAttributeBytes is the size of an event's attributes as a delivery carries them
// in binary mode: for each one sent as a ce-* header (id, source, type, specversion,
// subject, dataschema, time, each extension), 11 bytes, its name, and its value as the
// header carries it (percent-encoded: 3 bytes for each byte outside printable ASCII, each
// space, '"' and '%'); and the datacontenttype (the Content-Type header).
func EventAttributeBytes(e Event) int {
	n := len(e.DataContentType)
	add := func(name, v string) {
		if v == "" {
			return
		}
		n += 11 + len(name)
		for i := 0; i < len(v); i++ {
			if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
				n += 3
			} else {
				n++
			}
		}
	}
	add("id", e.EventID)
	add("source", e.Source)
	add("type", e.Type)
	add("specversion", e.SpecVersion)
	add("subject", e.Subject)
	add("dataschema", e.DataSchema)
	if !e.Time.IsZero() {
		add("time", e.Time.UTC().Format(time.RFC3339Nano))
	}
	for name, v := range e.Extensions {
		add(name, v)
	}
	return n
}

// checkEventString checks the value of a string attribute: at most MaxEventAttr bytes of
// UTF-8 without control characters (U+0000-U+001F, U+007F-U+009F), as CloudEvents 1.0's
// String type is.
func checkEventString(name, v string) error {
	if len(v) > MaxEventAttr {
		return Invalid(name, "the event's %s is longer than %d bytes", name, MaxEventAttr)
	}
	if !utf8.ValidString(v) {
		return Invalid(name, "the event's %s is not valid UTF-8", name)
	}
	for _, r := range v {
		if r <= 0x1f || r >= 0x7f && r <= 0x9f {
			return Invalid(name, "the event's %s holds a control character (U+%04X)", name, r)
		}
	}
	return nil
}

// ValidateExtensionName checks the name of an extension attribute.
func ValidateExtensionName(name string) error {
	switch {
	case coreAttributes[name]:
		return Invalid(name, "%q is a CloudEvents attribute, not an extension", name)
	case !extensionName.MatchString(name):
		return Invalid(name, "an extension attribute's name is 1 to 20 lowercase letters (a-z) or digits, not %q", name)
	}
	return nil
}

// ValidateSubscription checks a subscription as it is to be stored (its defaults
// applied): its name, filter, target, retry policy, dead-letter policy and scope. Whether
// its target exists, and is its owner's, is for its caller to check.
func ValidateSubscription(s Subscription) error {
	if !subscriptionName.MatchString(s.Name) {
		return Invalid("name", "a subscription's name is 1 to 63 lowercase letters, digits, '_', '.' or '-', starting with a letter or digit, not %q", s.Name)
	}
	if s.Owner == "" {
		return Invalid("owner", "a subscription has an owner")
	}
	if err := ValidateEventMatch(s.Filter); err != nil {
		return err
	}
	if err := validateDeliveryTarget(s.Target); err != nil {
		return err
	}
	if err := ValidateRetryPolicy(s.Retry); err != nil {
		return err
	}
	if s.DeadLetter != DeadLetterKeep && s.DeadLetter != DeadLetterDiscard {
		return Invalid("dead_letter", "dead_letter is %q or %q, not %q", DeadLetterKeep, DeadLetterDiscard, s.DeadLetter)
	}
	if s.Scope != ScopeOwn && s.Scope != ScopeAll {
		return Invalid("scope", "scope is %q or %q, not %q", ScopeOwn, ScopeAll, s.Scope)
	}
	return nil
}

// ValidateEventMatch checks a subscription's filter: a type that is "*", a prefix ending
// in ".*", or an exact type without '*'; a source and a subject prefix within MaxEventAttr.
func ValidateEventMatch(m EventMatch) error {
	switch t := m.Type; {
	case t == "":
		return Invalid("filter.type", "a filter names the events' type: exact (com.example.created), a prefix (com.example.*), or * for every type")
	case len(t) > MaxEventAttr:
		return Invalid("filter.type", "the filter's type is longer than %d bytes", MaxEventAttr)
	case t == "*":
	case strings.HasSuffix(t, ".*"):
		if p := strings.TrimSuffix(t, ".*"); p == "" || strings.Contains(p, "*") {
			return Invalid("filter.type", "a type prefix is a non-empty prefix followed by .* (com.example.*), not %q", t)
		}
	case strings.Contains(t, "*"):
		return Invalid("filter.type", "'*' may only end a type prefix (com.example.*) or stand alone, not %q", t)
	}
	if len(m.Source) > MaxEventAttr {
		return Invalid("filter.source", "the filter's source is longer than %d bytes", MaxEventAttr)
	}
	if len(m.Subject) > MaxEventAttr {
		return Invalid("filter.subject", "the filter's subject is longer than %d bytes", MaxEventAttr)
	}
	return nil
}

// Matches reports whether an event passes the filter: its type (exact, prefix or any),
// its source (exact, when set) and its subject (a prefix, when set).
func (m EventMatch) Matches(e Event) bool {
	switch {
	case m.Source != "" && m.Source != e.Source:
		return false
	case m.Subject != "" && !strings.HasPrefix(e.Subject, m.Subject):
		return false
	case m.Type == "*":
		return true
	case strings.HasSuffix(m.Type, ".*"):
		return strings.HasPrefix(e.Type, m.Type[:len(m.Type)-1]) // "com.example." is a prefix
	}
	return m.Type == e.Type
}

func validateDeliveryTarget(t DeliveryTarget) error {
	fn := t.App != "" || t.Path != ""
	switch {
	case fn && t.Workflow != "":
		return Invalid("target", "a subscription's target is a function (app and path) or a workflow, not both")
	case !fn && t.Workflow == "":
		return Invalid("target", "a subscription's target is a function (app and path) or a workflow")
	case fn && t.App == "":
		return Invalid("target.app", "a function target names its app")
	case fn && !strings.HasPrefix(t.Path, "/"):
		return Invalid("target.path", "a function target's path starts with '/', not %q", t.Path)
	case len(t.Path) > MaxEventAttr:
		return Invalid("target.path", "the target's path is longer than %d bytes", MaxEventAttr)
	}
	return nil
}

// ValidateRetryPolicy checks a retry policy's bounds: MaxAttempts 1 to 100, Initial at
// least 100ms, Max at least Initial, both at most an hour.
func ValidateRetryPolicy(p RetryPolicy) error {
	switch {
	case p.MaxAttempts < MinRetryAttempts || p.MaxAttempts > MaxRetryAttempts:
		return Invalid("retry.max_attempts", "max_attempts is %d to %d (the runs of a delivery in all), not %d", MinRetryAttempts, MaxRetryAttempts, p.MaxAttempts)
	case p.Initial < MinRetryInitial || p.Initial > MaxRetryBackoff:
		return Invalid("retry.initial", "the first backoff is %s to %s, not %s", MinRetryInitial, MaxRetryBackoff, p.Initial)
	case p.Max < p.Initial || p.Max > MaxRetryBackoff:
		return Invalid("retry.max", "the longest backoff is at least the first (%s) and at most %s, not %s", p.Initial, MaxRetryBackoff, p.Max)
	}
	return nil
}

// Delay is the backoff before the run that follows attempt (1 for the first run): Initial,
// doubled at each further attempt, at most Max.
func (p RetryPolicy) Delay(attempt int) time.Duration {
	d := p.Initial
	for i := 1; i < attempt && d < p.Max && d < MaxRetryBackoff; i++ { // no shift ever overflows
		d *= 2
	}
	return min(d, p.Max)
}

// String describes the policy, for logs and errors.
func (p RetryPolicy) String() string {
	return fmt.Sprintf("%d attempts, backoff %s to %s", p.MaxAttempts, p.Initial, p.Max)
}
