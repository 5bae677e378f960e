package ipam

import (
	"fmt"
	"net/netip"
)

// InUseError says who already holds an address. It matches ErrInUse.
type InUseError struct {
	Addr   netip.Addr
	Holder string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("address %s is already held by %s", e.Addr, e.Holder)
}

func (e *InUseError) Unwrap() error { return ErrInUse }
