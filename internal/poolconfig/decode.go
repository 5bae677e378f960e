package poolconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"
)

// file is the pools file as written. Pools stay raw so that each is decoded
// on its own: its errors can then name it, and one bad pool does not hide
// the problems of the others.
type file struct {
	Pools    []json.RawMessage `json:"pools"`
	Reserved []string          `json:"reserved"`
}

const fileFields = "pools, reserved"

// poolEntry is one pool as written.
type poolEntry struct {
	Name          string   `json:"name"`
	Addresses     []string `json:"addresses"`
	Namespaces    []string `json:"namespaces"`
	AutoAssign    *bool    `json:"autoAssign"` // nil: the default, true
	AvoidBuggyIPs bool     `json:"avoidBuggyIPs"`
}

const poolFields = "name, addresses, namespaces, autoAssign, avoidBuggyIPs"

// decode reads YAML into a T, strictly. When the only fault is an unknown or
// repeated field, it still returns what a lenient read gives (ok) beside the
// error, so that the rest of the input can be checked too.
func decode[T any](data []byte, fields string) (v T, ok bool, err error) {
	strictErr := yaml.UnmarshalStrict(data, &v)
	if strictErr == nil {
		return v, true, nil
	}
	var lenient T
	if err := yaml.Unmarshal(data, &lenient); err != nil {
		return lenient, false, errors.New(yamlReason(err, fields))
	}
	return lenient, true, errors.New(yamlReason(strictErr, fields))
}

// yamlReason rewords a sigs.k8s.io/yaml error for an operator: without the
// library's layers of prefixes and without Go type names.
func yamlReason(err error, fields string) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return typeReason(te, fields)
	}
	msg := err.Error()
	for _, prefix := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if rest, ok := strings.CutPrefix(msg, "yaml: unmarshal errors:\n"); ok {
		return joinLines(rest)
	}
	if rest, ok := strings.CutPrefix(msg, "yaml: "); ok {
		return "invalid YAML: " + rest
	}
	if strings.HasPrefix(msg, "unknown field ") {
		return fmt.Sprintf("%s (want %s)", msg, fields)
	}
	return msg
}

// typeReason says what was found and what was wanted, such as
// "addresses: got text, want a list".
func typeReason(te *json.UnmarshalTypeError, fields string) string {
	msg := fmt.Sprintf("got %s, want %s", jsonKind(te.Value), goKind(te.Type))
	if te.Field == "" {
		return fmt.Sprintf("%s (with %s)", msg, fields)
	}
	return te.Field + ": " + msg
}

func jsonKind(value string) string {
	switch {
	case value == "array":
		return "a list"
	case value == "object":
		return "a mapping"
	case value == "string":
		return "text"
	case value == "bool":
		return "true or false"
	case strings.HasPrefix(value, "number"):
		return "a number"
	}
	return value
}

func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return goKind(t.Elem())
	}
	return t.String()
}

// joinLines puts a multi-line message on one line.
func joinLines(msg string) string {
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
