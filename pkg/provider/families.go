package provider

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// wanted are the families the Service gets an address of, from spec.ipFamilies
// and spec.ipFamilyPolicy:
//   - SingleStack: its one family.
//   - PreferDualStack: each of its families that it already has, asks for, or that a
//     pool serving it offers; at least its primary one, whose refusal then says why.
//   - RequireDualStack: both, or a refusal naming the family no pool offers. Nothing
//     is handed out for the other family meanwhile: a half load balancer is what the
//     Service said it cannot use, and an address given now would be taken away again
//     if the operator's answer is to drop the policy. Addresses it already has stay.
func (l *LoadBalancer) wanted(svc *corev1.Service, in perFamily) ([]vipconfig.Family, error) {
	have := ipFamiliesOf(svc)
	switch policyOf(svc) {
	case corev1.IPFamilyPolicyRequireDualStack:
		for _, fam := range have {
			ok, err := l.offered(in, fam)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, l.errFamilyMissing(in[fam], fam)
			}
		}
		return have, nil
	case corev1.IPFamilyPolicyPreferDualStack:
		var out []vipconfig.Family
		for _, fam := range have {
			if ok, _ := l.offered(in, fam); ok {
				out = append(out, fam)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return have[:1], nil
}

// offered reports whether the Service should get an address of fam: it holds one,
// its status shows one, it asks for one, or a pool offers one. The error is that
// of pools that are not in force (an invalid pools file).
func (l *LoadBalancer) offered(in perFamily, fam vipconfig.Family) (bool, error) {
	s, f := in[fam], l.fams[fam]
	if s.Request.IsValid() || s.Status.IsValid() {
		return true, nil
	}
	if _, held := f.ledger.Holding(s.UID); held {
		return true, nil
	}
	return f.ledger.Offers(s)
}

// errFamilyMissing refuses a RequireDualStack Service a family no pool offers it.
func (l *LoadBalancer) errFamilyMissing(s ledger.Service, fam vipconfig.Family) error {
	where := fmt.Sprintf("no address pool that serves namespace %q has %s addresses", s.Namespace, fam)
	fix := fmt.Sprintf("add an %s range to a pool that serves it, name such a pool with annotation %s, request an %s address", fam, poolconfig.PoolAnnotation, fam)
	if s.Pool != "" {
		where = fmt.Sprintf("pool %q (annotation %s) has no %s addresses", s.Pool, poolconfig.PoolAnnotation, fam)
		fix = fmt.Sprintf("add an %s range to it, name a pool that has one", fam)
	}
	return &ledger.AllocationError{Reason: ledger.ReasonNotAllowed, Err: fmt.Errorf(
		"ipFamilyPolicy RequireDualStack needs an %s address, but %s: %s, or use ipFamilyPolicy PreferDualStack; until then the Service gets no address of either family",
		fam, where, fix)}
}
