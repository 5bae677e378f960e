package netns

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ServePage serves, on port 80 of every address (IPv4 and IPv6) inside n's namespace,
// a page that answers with n's name: the node that holds a VIP answers for it.
func ServePage(n *Node) (*http.Server, error) { return ServePageOn(n, 80) }

// ServePageOn is ServePage on another port.
func ServePageOn(n *Node, port int) (*http.Server, error) {
	ln, err := Listen(n.NS, ":"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("page on %s: %w", n.Name, err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, n.Name) }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// CurlArgs is curl fetching the page on port 80 of vip (curl -4 or -6 by its family),
// giving up after timeout.
func CurlArgs(vip string, timeout time.Duration) ([]string, error) { return curlArgs(vip, 80, timeout) }

func curlArgs(vip string, port int, timeout time.Duration) ([]string, error) {
	a, err := netip.ParseAddr(vip)
	if err != nil {
		return nil, err
	}
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)
	host := a.String()
	if a.Is6() {
		host = "[" + host + "]"
	}
	url := "http://" + host + ":" + strconv.Itoa(port) + "/"
	return []string{"curl", familyFlag(a), "-s", "--connect-timeout", secs, "--max-time", secs, url}, nil
}

// Curl fetches the page on port 80 of vip from the client and returns what it says: the
// name of the node that answered (ServePage).
func (tp *Topology) Curl(vip string, timeout time.Duration) (string, error) {
	return tp.CurlPort(vip, 80, timeout)
}

// CurlPort is Curl on another port (ServePageOn).
func (tp *Topology) CurlPort(vip string, port int, timeout time.Duration) (string, error) {
	argv, err := curlArgs(vip, port, timeout)
	if err != nil {
		return "", err
	}
	out, err := Command(tp.ClientNS, argv...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
