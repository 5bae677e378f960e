package keepalived

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"k8s.io/klog/v2"
)

// Notification is one line keepalived writes to its notify FIFO for a VRRP instance,
// such as `INSTANCE "vip_0" MASTER 200`.
type Notification struct {
	Instance string
	State    string // MASTER, BACKUP, FAULT or STOP
	Priority int
}

// parseNotification reads one FIFO line; ok is false for lines about other things
// (groups, virtual servers).
func parseNotification(line string) (n Notification, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 3 || fields[0] != "INSTANCE" {
		return Notification{}, false
	}
	n.Instance = strings.Trim(fields[1], `"`)
	n.State = fields[2]
	if len(fields) > 3 {
		n.Priority, _ = strconv.Atoi(fields[3])
	}
	return n, true
}

// OpenFIFO creates the FIFO at path if needed and opens it. It is opened read-write so
// that the open does not wait for keepalived and reads do not end when keepalived
// restarts and closes its end.
func OpenFIFO(path string) (*os.File, error) {
	if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating notify FIFO %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening notify FIFO %s: %w", path, err)
	}
	return f, nil
}

// ReadNotifications calls fn for each instance notification read from r until r fails
// or ctx ends (the caller closes r then).
func ReadNotifications(ctx context.Context, r io.Reader, fn func(Notification)) {
	s := bufio.NewScanner(r)
	for s.Scan() && ctx.Err() == nil {
		if n, ok := parseNotification(s.Text()); ok {
			fn(n)
		}
	}
	if err := s.Err(); err != nil && ctx.Err() == nil {
		klog.ErrorS(err, "Reading keepalived's notify FIFO stopped; instance states are no longer updated")
	}
}
