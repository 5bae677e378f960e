package controlplane

import (
	"os"
	"strconv"
	"strings"
)

// ChildPIDs lists the processes whose parent is this process (Linux /proc), such as the
// etcd and kube-apiserver that envtest started, which run in process groups of their own.
// A supervisor can record them to clean up should this process be killed outright.
func ChildPIDs() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may contain spaces and parentheses.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) > 1 {
			if ppid, err := strconv.Atoi(fields[1]); err == nil && ppid == self {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}
