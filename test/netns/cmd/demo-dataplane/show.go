package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

const (
	// curlEvery is how often the failover is probed.
	curlEvery = 100 * time.Millisecond
	// electionLimit covers the agents' start and the first VRRP election (about 3.5
	// advert intervals of 1 s after keepalived starts).
	electionLimit = 30 * time.Second
	failoverLimit = 30 * time.Second
)

// show curls the Service's address from the client, stops the agent of the node that
// answered, and curls until the other node answers.
func (d *demo) show(ctx context.Context) error {
	ns, name, _ := strings.Cut(d.opts.service, "/")
	svcCtx, cancel := context.WithTimeout(ctx, electionLimit)
	defer cancel()
	svc, err := controlplane.WaitForIngressIP(svcCtx, d.client, ns, name)
	if err != nil {
		return err
	}
	d.vip = controlplane.IngressIP(svc)
	if !d.inSubnet(d.vip) {
		return fmt.Errorf("the EXTERNAL-IP of Service %s, %s, is outside the bridge's %s: the demo contacts nothing outside its namespaces (is the pool inside -subnet?)", d.opts.service, d.vip, d.opts.subnet)
	}
	d.step("curl from the client namespace to Service %s's EXTERNAL-IP %s", d.opts.service, d.vip)
	holder, err := d.waitAnswered(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("$ %s\n%s\n", d.curlLine(), holder.Name)
	return d.failover(ctx, holder)
}

// waitAnswered waits until exactly one node holds the VIP and curl is answered by it.
func (d *demo) waitAnswered(ctx context.Context) (*netns.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, electionLimit)
	defer cancel()
	var seen string
	for {
		holders := d.topo.Holders(d.vip)
		answer, err := d.curl()
		if len(holders) == 1 && err == nil && answer == holders[0] {
			return d.topo.Node(answer), nil
		}
		seen = fmt.Sprintf("held by %v, curl answered %q (%v)", holders, answer, err)
		for _, a := range d.agents {
			if !a.running() {
				return nil, fmt.Errorf("the agent of %s exited; see %s", a.node.Name, a.logPath)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for one node to hold %s and answer: %w; last seen: %s", d.vip, ctx.Err(), seen)
		case <-time.After(curlEvery):
		}
	}
}

// failover stops holder's agent and curls every curlEvery until the other node answers.
func (d *demo) failover(ctx context.Context, holder *netns.Node) error {
	i := slices.IndexFunc(d.topo.Nodes, func(n *netns.Node) bool { return n != holder })
	other := d.topo.Nodes[i]
	a := d.agents[holder.Name]
	d.step("Stopping %s's agent (SIGTERM to pid %d, as the kubelet stops a pod); curl every %s until %s answers",
		holder.Name, a.pid(), curlEvery, other.Name)
	ctx, cancel := context.WithTimeout(ctx, failoverLimit)
	defer cancel()
	start := time.Now()
	a.terminate()
	moved := d.watchMove(start, other.Name)
	defer moved()
	byHolder, unanswered := 0, 0
	for {
		sent := time.Since(start)
		answer, err := d.curl()
		if err == nil && answer == other.Name {
			took := time.Since(start)
			fmt.Printf("$ %s\n%s\n", d.curlLine(), answer)
			fmt.Printf("failover: %s answers for %s %s after %s's agent got SIGTERM\n", other.Name, d.vip, seconds(took), holder.Name)
			fmt.Printf("  (the address was on %s's eth0 alone after %s; the answered curl was sent at %s%s)\n",
				other.Name, seconds(moved()), seconds(sent), curlsBefore(byHolder, unanswered, holder.Name))
			break
		}
		if err == nil && answer == holder.Name {
			byHolder++
		} else {
			unanswered++
		}
		select {
		case <-ctx.Done():
			last := fmt.Sprintf("last curl answered %q (%v)", answer, err)
			return fmt.Errorf("waiting for %s to answer for %s after %s's agent got SIGTERM: %w; %s",
				other.Name, d.vip, holder.Name, ctx.Err(), last)
		case <-time.After(curlEvery):
		}
	}
	if err := a.stop(stopGrace); err != nil {
		return err
	}
	fmt.Printf("%s's agent has exited; %s is on %v\n", holder.Name, d.vip, d.topo.Holders(d.vip))
	if !d.opts.noWait {
		fmt.Printf("\nFrom another shell, as root, while the demo runs:\n\n  %s\n  ip -n %s -o -4 addr show dev eth0   # %s's eth0 carries %s\n",
			d.curlLine(), other.NS, other.Name, d.vip)
	}
	return nil
}

// curl fetches http://<vip>/ from the client namespace with the real curl.
func (d *demo) curl() (string, error) {
	out, err := netns.Command(d.topo.ClientNS, d.curlArgs()...).Output()
	return strings.TrimSpace(string(out)), err
}

func (d *demo) curlArgs() []string {
	return []string{"curl", "-s", "--max-time", "2", "http://" + d.vip + "/"}
}

// curlLine is the command a reader can type to do the same.
func (d *demo) curlLine() string {
	return "ip netns exec " + d.topo.ClientNS + " " + strings.Join(d.curlArgs(), " ")
}

// watchMove samples the VIP's holders every 10 ms; the function it returns (call it at
// least once) stops that and says how long after start the VIP was first on node alone
// (0 if not seen).
func (d *demo) watchMove(start time.Time, node string) func() time.Duration {
	stop, done := make(chan struct{}), make(chan time.Duration, 1)
	go func() {
		for {
			if h := d.topo.Holders(d.vip); len(h) == 1 && h[0] == node {
				done <- time.Since(start)
				return
			}
			select {
			case <-stop:
				done <- 0
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return sync.OnceValue(func() time.Duration {
		close(stop)
		return <-done
	})
}

// curlsBefore says what the curls before the answered one got, if there were any.
func curlsBefore(byHolder, unanswered int, holder string) string {
	if byHolder+unanswered == 0 {
		return ""
	}
	return fmt.Sprintf("; the %d before it: %d answered by %s, %d unanswered", byHolder+unanswered, byHolder, holder, unanswered)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }
