package workflow

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/gantry-dev/gantry/store"
)

var (
	typeOfDefinition = reflect.TypeFor[Definition]()
	typeOfRaw        = reflect.TypeFor[json.RawMessage]()
)

// checkShape checks a decoded document (json.Number numbers) against the Go type it is
// decoded into, so that an unknown field or a value of the wrong type is refused with its
// path ("steps[1].call.pth") rather than with encoding/json's pathless message.
func checkShape(v any, t reflect.Type, field string) error {
	if t == typeOfRaw {
		return nil
	}
	if v == nil {
		return nil // null leaves the zero value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(v, t.Elem(), field)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return store.Invalid(field, "must be an object")
		}
		fields := map[string]reflect.StructField{}
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = sf
			}
		}
		for _, key := range sortedKeys(obj) {
			sf, ok := fields[key]
			f := key
			if field != "" {
				f = field + "." + key
			}
			if !ok {
				return store.Invalid(f, "unknown field %q", key)
			}
			if err := checkShape(obj[key], sf.Type, f); err != nil {
				return err
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return store.Invalid(field, "must be an array")
		}
		for i, x := range arr {
			if err := checkShape(x, t.Elem(), fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return store.Invalid(field, "must be an object")
		}
		for _, key := range sortedKeys(obj) {
			if err := checkShape(obj[key], t.Elem(), field+"."+key); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return store.Invalid(field, "must be a string")
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			return store.Invalid(field, "must be an integer")
		}
		if _, err := n.Int64(); err != nil {
			return store.Invalid(field, "must be an integer")
		}
	}
	return nil
}
