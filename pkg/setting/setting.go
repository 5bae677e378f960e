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

// Complete fills every setting whose flag fs was not given on the command line from
// the environment, else its default. A flag given counts even when empty: --flag=""
// is how an operator overrides a variable set in a manifest. fs may be nil (no flags).
func Complete(fs *pflag.FlagSet, settings []Setting, lookupEnv func(string) (string, bool)) {
	for _, s := range settings {
		if fs != nil && fs.Changed(s.Flag) {
			continue
		}
		if v, ok := lookupEnv(s.Env); ok && (v != "" || s.EmptyAllowed) {
			*s.Value = v
		} else {
			*s.Value = s.Default
		}
	}
}

// Find is the setting that fills value. Validation names a setting by the field it
// fills rather than by its place in the list, so reordering the list cannot make a
// message name the wrong flag. It panics when none does: a programming error.
func Find(settings []Setting, value *string) Setting {
	for _, s := range settings {
		if s.Value == value {
			return s
		}
	}
	panic(fmt.Sprintf("setting: no setting fills the field at %p", value))
}
