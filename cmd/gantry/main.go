// Command gantry is the Gantry server and its command-line client.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "gantry",
		Short:         "Gantry serverless functions platform: server and CLI",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cf := addClientFlags(root)
	root.AddCommand(
		newServerCmd(),
		newVersionCmd(cf),
		newAppsCmd(cf),
		newRoutesCmd(cf),
		newCallCmd(cf),
		newExecutionsCmd(cf),
		newWorkflowsCmd(cf),
		newWhoamiCmd(cf),
		newTokensCmd(cf),
		newAPIsCmd(cf),
		newNodesCmd(cf),
		newSecretsCmd(cf),
		newSSHKeyCmd(cf),
		newEventsCmd(cf),
		newDeliveriesCmd(cf),
		newSubscriptionsCmd(cf),
		newSchedulesCmd(cf),
		newImagesCmd(cf),
		newFunctionsCmd(cf),
		newApplyCmd(cf),
		newExportCmd(cf),
		newImportCmd(),
		newInitCmd(),
		newDeployCmd(cf),
	)
	refuseUnknownSubcommands(root)
	return root
}
