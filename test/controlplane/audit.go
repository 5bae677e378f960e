package controlplane

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// AuditPolicy is the audit policy of a control plane started with Options.AuditLog: the
// metadata (who, what, when, the response code; no bodies) of every write request for
// ConfigMaps, Services, Services' status and Leases, once each (when the response is
// complete). Nothing else is logged, so the log stays small over a whole test suite.
const AuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: ""
        resources: ["configmaps", "services", "services/status"]
      - group: "coordination.k8s.io"
        resources: ["leases"]
  - level: None
`

func (c *ControlPlane) auditPolicyPath() string { return filepath.Join(c.Dir, "audit-policy.yaml") }

// prepareAudit writes the policy and an empty log into Dir.
func (c *ControlPlane) prepareAudit() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(c.auditPolicyPath(), []byte(AuditPolicy), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(c.Dir, "audit.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		return err
	}
	c.AuditLogPath = logPath
	return nil
}

// CopyAuditLog copies the audit log to path (to keep it past Stop).
func (c *ControlPlane) CopyAuditLog(path string) error {
	if c.AuditLogPath == "" {
		return nil
	}
	data, err := os.ReadFile(c.AuditLogPath)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// AuditEvent is the part of an audit.k8s.io/v1 Event that tests look at.
type AuditEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	User       struct {
		Username string              `json:"username"`
		Extra    map[string][]string `json:"extra"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int32 `json:"code"`
	} `json:"responseStatus"`
	RequestReceived time.Time `json:"requestReceivedTimestamp"`
}

// CredentialID is the credential the request was made with (Identity.CredentialID).
func (e *AuditEvent) CredentialID() string {
	if ids := e.User.Extra["authentication.kubernetes.io/credential-id"]; len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// Resource is "resource[/subresource]" of the object the request was for.
func (e *AuditEvent) Resource() string {
	if e.ObjectRef == nil {
		return ""
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// Code is the response's HTTP status code, 0 if none was recorded.
func (e *AuditEvent) Code() int32 {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

// String is a one-line summary for failure messages.
func (e *AuditEvent) String() string {
	ns, name := "", ""
	if e.ObjectRef != nil {
		ns, name = e.ObjectRef.Namespace, e.ObjectRef.Name
	}
	return fmt.Sprintf("%s %s %s %s/%s -> %d by %s (%s)", e.RequestReceived.Format("15:04:05.000000"),
		e.Verb, e.Resource(), ns, name, e.Code(), e.User.Username, e.CredentialID())
}

// AuditLogSize is the current length of the audit log: an offset to read from later.
func (c *ControlPlane) AuditLogSize() (int64, error) {
	if c.AuditLogPath == "" {
		return 0, fmt.Errorf("the control plane was started without an audit log")
	}
	fi, err := os.Stat(c.AuditLogPath)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// AuditEvents reads the events the audit log holds from offset on (the start of a line,
// as AuditLogSize gives). A last line still being written is left out.
func (c *ControlPlane) AuditEvents(offset int64) ([]AuditEvent, error) {
	if c.AuditLogPath == "" {
		return nil, fmt.Errorf("the control plane was started without an audit log")
	}
	f, err := os.Open(c.AuditLogPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var events []AuditEvent
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return events, nil // a partial last line, if any, is not complete yet
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev AuditEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("audit log %s: %w: %.200s", c.AuditLogPath, err, line)
		}
		events = append(events, ev)
	}
}
