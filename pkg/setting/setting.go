// Package setting reads configuration values that may be given as a flag or as an
// environment variable: the flag wins, then the variable, then the default.
package setting

import (
	"fmt"

	"github.com/spf13/pflag"
)

// Setting is one configuration value: its flag, its environment variable and its default.
type Setting struct {
	Flag, Env, Default, Usage string
	Value                     *string
	// EmptyAllowed makes a variable set to "" mean empty rather than the default.
	EmptyAllowed bool
}

// AddFlags registers the flags. Their defaults are empty so that an unset flag falls
// back to the environment variable, then to the built-in default.
func AddFlags(fs *pflag.FlagSet, settings []Setting) {
	for _, s := range settings {
		usage := fmt.Sprintf("%s Overrides $%s.", s.Usage, s.Env)
		if s.Default != "" {
			usage += fmt.Sprintf(" Default %q.", s.Default)
		}
		fs.StringVar(s.Value, s.Flag, "", usage)
	}
}

// Complete fills every setting whose flag was not given from the environment, else
// its default.
func Complete(settings []Setting, given func(Setting) bool, lookupEnv func(string) (string, bool)) {
	for _, s := range settings {
		if given(s) {
			continue
		}
		if v, ok := lookupEnv(s.Env); ok && (v != "" || s.EmptyAllowed) {
			*s.Value = v
		} else {
			*s.Value = s.Default
		}
	}
}
