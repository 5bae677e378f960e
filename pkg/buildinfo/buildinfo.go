// Package buildinfo tells which version a binary is, however it was built: the Makefile
// and the images stamp k8s.io/component-base's version with -ldflags, while
// `go install …@v0.1.0` stamps nothing but records the module version in the binary.
package buildinfo

import (
	"runtime/debug"

	"github.com/spf13/pflag"
	"k8s.io/component-base/version"
)

// unstamped is component-base's version when no -ldflags set it.
const unstamped = "v0.0.0-master+$Format:%H$"

// Version is the stamped version, else the module version from the build info (set
// by go install), else v0.0.0-<commit> from the VCS revision, else "unknown".
func Version() string {
	if v := version.Get().GitVersion; v != unstamped {
		return v
	}
	return fromBuildInfo(debug.ReadBuildInfo())
}

func fromBuildInfo(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "v0.0.0-" + s.Value[:12]
		}
	}
	return "unknown"
}

// PrintIfUnstamped answers --version itself when no -ldflags set the version, since
// component-base would print its placeholder; it reports whether it did.
func PrintIfUnstamped(fs *pflag.FlagSet, name string, print func(string)) bool {
	f := fs.Lookup("version")
	if f == nil || f.Value.String() == "false" || version.Get().GitVersion != unstamped {
		return false
	}
	print(name + " " + Version())
	return true
}
