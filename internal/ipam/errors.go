package ipam

import "errors"

// Sentinel errors; match them with errors.Is. The returned errors wrap them
// with the address, pool or holder involved, ready to show to a user.
var (
	ErrExhausted   = errors.New("no free address")
	ErrInUse       = errors.New("address in use")
	ErrNotInPool   = errors.New("address not in pool")
	ErrUnknownPool = errors.New("unknown pool")
	ErrNotIPv4     = errors.New("not an IPv4 address")

	// ErrIPv6 explains why IPv6 is refused rather than just refusing it.
	ErrIPv6 = errors.New("IPv6 is not supported: kube-keepalived-vip cannot publish IPv6 addresses (ConfigMap keys cannot contain ':')")
)

// ErrSpecial marks addresses that must never be announced as a load balancer's
// address, whoever asks for them.
var ErrSpecial = errors.New("special-purpose address")
