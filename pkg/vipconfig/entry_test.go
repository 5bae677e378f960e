package vipconfig

import (
	"strings"
	"testing"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		name, value string
		want        Entry
		wantErr     string
	}{
		{name: "plain means NAT", value: "default/web", want: Entry{"default/web", NAT}},
		{name: "DR", value: "default/echo:DR", want: Entry{"default/echo", DR}},
		{name: "PROXY", value: "ns/svc:PROXY", want: Entry{"ns/svc", PROXY}},
		{name: "explicit NAT", value: "ns/svc:NAT", want: Entry{"ns/svc", NAT}},
		{name: "lower case method is not the consumer's", value: "ns/svc:dr", wantErr: `forward method "dr"`},
		{name: "empty", value: "", wantErr: "is not <namespace>/<service>"},
		{name: "no namespace", value: "svc", wantErr: "is not <namespace>/<service>"},
		{name: "empty name", value: "ns/", wantErr: "is not <namespace>/<service>"},
		{name: "too many slashes", value: "a/b/c", wantErr: "is not <namespace>/<service>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseValue(tt.value)
			if !errorContains(err, tt.wantErr) {
				t.Fatalf("ParseValue(%q) error = %v, want containing %q", tt.value, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseValue(%q) = %+v, want %+v", tt.value, got, tt.want)
			}
		})
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, e := range []Entry{{"a/b", NAT}, {"a/b", DR}, {"a/b", PROXY}} {
		got, err := ParseValue(e.Value())
		if err != nil || got != e {
			t.Errorf("ParseValue(%q) = %+v, %v; want %+v", e.Value(), got, err, e)
		}
	}
	if v := (Entry{Service: "a/b", Method: NAT}).Value(); v != "a/b" {
		t.Errorf("NAT entry renders as %q, want the plain form a/b", v)
	}
}

func TestParseMethod(t *testing.T) {
	for in, want := range map[string]Method{"nat": NAT, "Dr": DR, " PROXY ": PROXY} {
		if got, err := ParseMethod(in); err != nil || got != want {
			t.Errorf("ParseMethod(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMethod("TUN"); !errorContains(err, "NAT, DR, PROXY") {
		t.Errorf("ParseMethod(TUN) error = %v, want one naming the allowed values", err)
	}
}

func FuzzParseValue(f *testing.F) {
	for _, seed := range []string{"default/web", "a/b:DR", "", ":", "/:", "a/b:PROXY:x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		e, err := ParseValue(v)
		if err != nil {
			return
		}
		again, err := ParseValue(e.Value())
		if err != nil || again != e {
			t.Fatalf("%q parsed to %+v, which renders to %q and parses to %+v, %v", v, e, e.Value(), again, err)
		}
	})
}

// errorContains reports whether err matches want: no error for "", else a message containing want.
func errorContains(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
