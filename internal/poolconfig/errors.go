package poolconfig

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors for the selection rules; match them with errors.Is. Pool
// names that do not exist match ipam.ErrUnknownPool, and a requested address
// in a pool other than the one the Service names matches ipam.ErrNotInPool.
var (
	ErrNotServed = errors.New("pool does not serve the namespace")
	ErrReserved  = errors.New("address is reserved")
)

// explained is a message for the user that matches a sentinel without
// repeating its text.
type explained struct {
	msg string
	is  error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.is }

func explain(is error, format string, args ...any) error {
	return &explained{msg: fmt.Sprintf(format, args...), is: is}
}

// servedBy describes whom a pool serves, as in `pool "b", which serves
// namespaces [team-b] only`.
func servedBy(p Pool) string {
	return fmt.Sprintf("pool %q, which serves namespaces [%s] only", p.Name, strings.Join(p.Namespaces, ", "))
}
