package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cloud-provider/names"

	"github.com/munnerz/keepalived-cloud-provider/pkg/setting"
)

// envInitializeNodes turns on the node controllers; --keepalived-initialize-nodes wins over it.
const envInitializeNodes = "KEEPALIVED_INITIALIZE_NODES"

// nodeControllers initialise and watch Nodes of kubelets started with
// --cloud-provider=external, from what pkg/nodes reads off each Node.
var nodeControllers = []string{names.CloudNodeController, names.CloudNodeLifecycleController}

// initializeNodes is a shorthand for adding nodeControllers to --controllers. They stay
// off by default: they write Nodes, which needs the RBAC of manifests/components/node-init.
type initializeNodes struct {
	value string
	flags *pflag.FlagSet // where the flag is: Complete asks it whether it was given
}

func addInitializeNodesFlag(fs *pflag.FlagSet) *initializeNodes {
	n := &initializeNodes{flags: fs}
	s := n.settings()[0]
	setting.AddFlags(fs, []setting.Setting{s})
	fs.Lookup(s.Flag).NoOptDefVal = "true" // the bare flag turns it on
	return n
}

func (n *initializeNodes) settings() []setting.Setting {
	return []setting.Setting{{
		Flag: "keepalived-initialize-nodes", Env: envInitializeNodes, Default: "false", Value: &n.value,
		Usage: "Initialise the Nodes of kubelets started with --cloud-provider=external: adds " +
			strings.Join(nodeControllers, " and ") + " to --controllers. Needs the RBAC of manifests/components/node-init.",
	}}
}

// wrap runs next (the command's own checks), then applies the setting to controllers:
// flags are parsed by then, and the controller manager reads controllers only later.
func (n *initializeNodes) wrap(next func(*cobra.Command, []string) error, controllers *[]string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := next(cmd, args)
		if f := cmd.Flags().Lookup("version"); f != nil && f.Value.String() != "false" {
			return err // --version needs no configuration
		}
		return errors.Join(err, n.apply(os.LookupEnv, controllers))
	}
}

// apply reads the setting (flag, else environment, else false) and, when true, adds
// the node controllers to controllers unless they are there already.
func (n *initializeNodes) apply(lookupEnv func(string) (string, bool), controllers *[]string) error {
	s := n.settings()[0]
	setting.Complete(n.flags, []setting.Setting{s}, lookupEnv)
	on, err := strconv.ParseBool(strings.TrimSpace(n.value))
	if err != nil {
		return fmt.Errorf("%s (--%s) %q: must be true or false", s.Env, s.Flag, n.value)
	}
	if !on {
		return nil
	}
	for _, name := range nodeControllers {
		if slices.Contains(*controllers, "-"+name) {
			return fmt.Errorf("%s (--%s) is true but --controllers has -%s: drop one of the two", s.Env, s.Flag, name)
		}
		if !slices.Contains(*controllers, name) {
			*controllers = append(*controllers, name)
		}
	}
	return nil
}
