package setting

import (
	"testing"

	"github.com/spf13/pflag"
)

func TestComplete(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		env          map[string]string
		emptyAllowed bool
		want         string
	}{
		{name: "nothing given: the default", want: "dflt"},
		{name: "variable", env: map[string]string{"X": "env"}, want: "env"},
		{name: "empty variable: the default", env: map[string]string{"X": ""}, want: "dflt"},
		{name: "empty variable allowed to be empty", env: map[string]string{"X": ""}, emptyAllowed: true, want: ""},
		{name: "flag wins over variable", args: []string{"--x=flag"}, env: map[string]string{"X": "env"}, want: "flag"},
		{name: "empty flag wins over variable", args: []string{"--x="}, env: map[string]string{"X": "env"}, want: ""},
		{name: "empty flag wins over default", args: []string{`--x=`}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var value string
			settings := []Setting{{Flag: "x", Env: "X", Default: "dflt", Value: &value, EmptyAllowed: tt.emptyAllowed}}
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			AddFlags(fs, settings)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			Complete(fs, settings, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if value != tt.want {
				t.Errorf("value = %q, want %q", value, tt.want)
			}
		})
	}
}

func TestCompleteWithoutFlags(t *testing.T) {
	var value string
	Complete(nil, []Setting{{Flag: "x", Env: "X", Default: "dflt", Value: &value}}, func(string) (string, bool) { return "", false })
	if value != "dflt" {
		t.Errorf("value = %q, want the default", value)
	}
}

func TestFindNamesTheSettingOfAField(t *testing.T) {
	var a, b string
	settings := []Setting{{Flag: "a", Value: &a}, {Flag: "b", Value: &b}}
	if got := Find(settings, &b).Flag; got != "b" {
		t.Errorf("Find(&b) = %q, want b", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Find of a field no setting fills did not panic")
		}
	}()
	var c string
	Find(settings, &c)
}
