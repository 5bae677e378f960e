package ipam

import (
	"encoding/binary"
	"math/big"
	"math/bits"
	"net/netip"
)

// u128 is an IPv6 address, or a difference of two, as a number. IPv6 maths
// works on these so that it never steps through addresses: a /16 costs what a
// /120 costs.
type u128 struct{ hi, lo uint64 }

// maxU128 is the last IPv6 address, ffff:...:ffff, as a number.
var maxU128 = u128{^uint64(0), ^uint64(0)}

// u128Of is an IPv6 address as a number; callers ensure a.Is6().
func u128Of(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// addr6 is the IPv6 address numbered x.
func (x u128) addr6() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

func (x u128) cmp(y u128) int {
	switch {
	case x.hi < y.hi, x.hi == y.hi && x.lo < y.lo:
		return -1
	case x == y:
		return 0
	}
	return 1
}

func (x u128) less(y u128) bool { return x.cmp(y) < 0 }

// add is x+y, wrapping at 2^128.
func (x u128) add(y u128) u128 {
	lo, carry := bits.Add64(x.lo, y.lo, 0)
	hi, _ := bits.Add64(x.hi, y.hi, carry)
	return u128{hi, lo}
}

// sub is x-y, wrapping below 0.
func (x u128) sub(y u128) u128 {
	lo, borrow := bits.Sub64(x.lo, y.lo, 0)
	hi, _ := bits.Sub64(x.hi, y.hi, borrow)
	return u128{hi, lo}
}

func (x u128) inc() u128 { return x.add(u128{0, 1}) }
func (x u128) dec() u128 { return x.sub(u128{0, 1}) }

func (x u128) and(y u128) u128 { return u128{x.hi & y.hi, x.lo & y.lo} }
func (x u128) or(y u128) u128  { return u128{x.hi | y.hi, x.lo | y.lo} }

// isZero reports whether x is 0.
func (x u128) isZero() bool { return x == u128{} }

// bitLen is the number of bits needed to write x.
func (x u128) bitLen() int {
	if x.hi != 0 {
		return 64 + bits.Len64(x.hi)
	}
	return bits.Len64(x.lo)
}

// lowOnes reports whether x is 2^k-1 for some k: a host mask.
func (x u128) lowOnes() bool { return x.and(x.inc()).isZero() }

// hostMask6 has the low 128-bits bits set: the host part of a /bits.
func hostMask6(bits int) u128 {
	switch n := 128 - bits; {
	case n >= 128:
		return maxU128
	case n >= 64:
		return u128{^uint64(0) >> (128 - n), ^uint64(0)}
	case n <= 0:
		return u128{}
	default:
		return u128{0, ^uint64(0) >> (64 - n)}
	}
}

// big is x as a big.Int.
func (x u128) big() *big.Int {
	n := new(big.Int).SetUint64(x.hi)
	n.Lsh(n, 64)
	return n.Or(n, new(big.Int).SetUint64(x.lo))
}

// count6 is how many addresses [first, first+width] holds, exactly:
// width+1, which reaches 2^128 for the whole space.
func count6(width u128) *big.Int {
	n := width.big()
	return n.Add(n, big.NewInt(1))
}
