package vipconfig

import (
	"fmt"
	"strings"
)

// Method is the IPVS forwarding method kube-keepalived-vip configures for a VIP.
type Method string

// The forwarding methods the consumer understands. An entry without a suffix means NAT.
const (
	NAT   Method = "NAT"
	DR    Method = "DR"
	PROXY Method = "PROXY"
)

// ParseMethod accepts a method in any case and returns it upper case.
func ParseMethod(s string) (Method, error) {
	m := Method(strings.ToUpper(strings.TrimSpace(s)))
	switch m {
	case NAT, DR, PROXY:
		return m, nil
	}
	return "", fmt.Errorf("forward method %q is not one of NAT, DR, PROXY", s)
}
