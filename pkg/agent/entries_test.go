package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEntriesReportsBadOnesAndKeepsTheRest(t *testing.T) {
	vips, problems := Entries(configMap(map[string]string{
		"10.0.0.5": "default/a:DR", "10.0.0.6": "", "bad": "default/b", "10.0.0.7": "default",
	}))
	var got []string
	for _, v := range vips {
		got = append(got, v.Addr.String()+"="+v.Service)
	}
	if diff := cmp.Diff([]string{"10.0.0.5=default/a", "10.0.0.6="}, got); diff != "" {
		t.Errorf("vips (-want +got):\n%s", diff)
	}
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.Key)
	}
	if diff := cmp.Diff([]string{"10.0.0.7", "bad"}, keys); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if vips, problems := Entries(nil); vips != nil || problems != nil {
		t.Errorf("missing ConfigMap: %v %v", vips, problems)
	}
}
