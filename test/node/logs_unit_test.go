package node

import "testing"

// TestFaulty: only the Lease race of two replicas passes; every other error line fails.
func TestFaulty(t *testing.T) {
	for line, want := range map[string]bool{
		`E1201 17:59:26.153650       1 leaderelection.go:477] "Error initially creating lease lock" err="leases.coordination.k8s.io \"keepalived-cloud-provider\" already exists" lock="kube-system/keepalived-cloud-provider"`:                                                                                                   false,
		`E1201 17:59:26.153650       1 leaderelection.go:509] "Failed to update lease" err="Operation cannot be fulfilled on leases.coordination.k8s.io \"keepalived-cloud-provider\": the object has been modified; please apply your changes to the latest version and try again" lock="kube-system/keepalived-cloud-provider"`: false,
		`E1201 17:59:26.153650       1 leaderelection.go:477] "Error initially creating lease lock" err="leases.coordination.k8s.io \"keepalived-cloud-provider\" is forbidden: User cannot create"`:                                                                                                                              true,
		`E1201 17:59:26.153650       1 leaderelection.go:473] "Error retrieving lease lock" err="context deadline exceeded"`:                                                                                                                                                                                                      true,
		`E1201 17:59:26.153650       1 controller.go:42] "Error initially creating lease lock" err="leases.coordination.k8s.io \"other\" already exists"`:                                                                                                                                                                         true,
		`I1201 17:59:26.153650       1 leaderelection.go:257] "Attempting to acquire leader lease"`:                                                                                                                                                                                                                               false,
		`panic: runtime error`: true,
	} {
		if got := faulty(line); got != want {
			t.Errorf("faulty(%q) = %v, want %v", line, got, want)
		}
	}
}
