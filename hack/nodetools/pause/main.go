// Command pause is the sandbox ("pause") container of the real-node test (test/node),
// packed by hack/nodetools.sh into an image that containerd imports, so that no registry
// is needed: it holds the pod's namespaces, reaps zombies when it is the pod's PID 1,
// and exits 0 on SIGINT or SIGTERM. It is what registry.k8s.io/pause does, in Go.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
