package vipconfig

import (
	"fmt"
	"strings"
)

// Entry is the value of one ConfigMap key: the Service behind a VIP and how to forward to it.
type Entry struct {
	Service string // "<namespace>/<name>"
	Method  Method
}

// Value renders the entry in the consumer's format. NAT is the consumer's default and
// is written without a suffix, like the examples in its documentation.
func (e Entry) Value() string {
	if e.Method == "" || e.Method == NAT {
		return e.Service
	}
	return e.Service + ":" + string(e.Method)
}

// ParseValue reads a value in the consumer's format. An empty value is an error:
// it means "announce without a backend", which only people or other tools write.
func ParseValue(v string) (Entry, error) {
	service, method, hasMethod := strings.Cut(v, ":")
	ns, name, ok := strings.Cut(service, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return Entry{}, fmt.Errorf("value %q is not <namespace>/<service>[:NAT|DR|PROXY]", v)
	}
	e := Entry{Service: service, Method: NAT}
	if hasMethod {
		m := Method(method)
		if m != NAT && m != DR && m != PROXY {
			return Entry{}, fmt.Errorf("value %q has forward method %q; the consumer accepts NAT, DR or PROXY", v, method)
		}
		e.Method = m
	}
	return e, nil
}
