package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestInitializeNodes(t *testing.T) {
	const (
		node      = "cloud-node-controller"
		lifecycle = "cloud-node-lifecycle-controller"
		service   = "service-lb-controller"
	)
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		controllers []string
		want        []string
		wantErr     string
	}{
		{name: "off by default", controllers: []string{service}, want: []string{service}},
		{name: "environment", env: map[string]string{envInitializeNodes: "true"}, controllers: []string{service}, want: []string{service, node, lifecycle}},
		{name: "flag", args: []string{"--keepalived-initialize-nodes"}, controllers: []string{service}, want: []string{service, node, lifecycle}},
		{
			name: "flag wins over environment", args: []string{"--keepalived-initialize-nodes=false"},
			env: map[string]string{envInitializeNodes: "true"}, controllers: []string{service}, want: []string{service},
		},
		{
			name: "already in --controllers", env: map[string]string{envInitializeNodes: "true"},
			controllers: []string{service, lifecycle}, want: []string{service, lifecycle, node},
		},
		{
			name: "bad value", env: map[string]string{envInitializeNodes: "yes"}, controllers: []string{service},
			want: []string{service}, wantErr: `KEEPALIVED_INITIALIZE_NODES (--keepalived-initialize-nodes) "yes": must be true or false`,
		},
		{
			name: "disabled by --controllers", env: map[string]string{envInitializeNodes: "true"}, controllers: []string{"*", "-" + node},
			want: []string{"*", "-" + node}, wantErr: "--controllers has -cloud-node-controller",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("keepalived", pflag.ContinueOnError)
			n := addInitializeNodesFlag(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			controllers := tc.controllers
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			err := n.apply(lookup, &controllers)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, controllers); diff != "" {
				t.Errorf("controllers (-want +got):\n%s", diff)
			}
		})
	}
}
