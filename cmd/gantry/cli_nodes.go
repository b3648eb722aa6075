package main

// This file holds `gantry nodes`: the live nodes sharing the server's store.

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/nodes"
	"github.com/gantry-dev/gantry/gen/models"
)

// newNodesCmd builds `gantry nodes` (and its alias `gantry nodes list`): the live nodes, in
// ID order, as a table or with -o json as the API answers them. Admins only.
func newNodesCmd(cf *clientFlags) *cobra.Command {
	list := func(cmd *cobra.Command, _ []string) error {
		s, err := cf.session(cmd)
		if err != nil {
			return err
		}
		res, err := s.api.Nodes.ListNodesContext(cmd.Context(), nodes.NewListNodesParams(), nil)
		if err != nil {
			return clientError("list nodes", err)
		}
		w := res.GetPayload()
		if w == nil {
			return errors.New("the server's answer has no nodes")
		}
		return s.out.show(w, func(out io.Writer) error { return writeTable(out, nodeTable(w.Nodes)) })
	}
	long := "List the nodes (server processes) sharing the server's store whose last heartbeat\n" +
		"is at most 15s old, in ID order: their version, management address, when their run\n" +
		"started, their last heartbeat, and the calls and hot containers they had then. Admins only."
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the live nodes sharing the server's store",
		Long:  long,
		Args:  cobra.NoArgs,
		RunE:  list,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the live nodes sharing the server's store (the same as gantry nodes)",
		Long:    long,
		Args:    cobra.NoArgs,
		RunE:    list,
	})
	return cmd
}

func nodeTable(items []*models.Node) table {
	t := table{header: []string{"ID", "VERSION", "ADDR", "RUNNING", "HOT", "STARTED", "HEARTBEAT"}}
	for _, n := range items {
		if n == nil {
			continue
		}
		t.rows = append(t.rows, []string{
			derefOrDash(n.ID), orDash(n.Version), orDash(n.Addr), formatInt(n.Running, ""), formatInt(n.Hot, ""),
			formatTime(n.StartedAt), formatTime(n.Heartbeat),
		})
	}
	return t
}

// versionFields are the server's lines of `gantry version`: its version, and the node
// that answered when it says.
func versionFields(server *models.Version) []field {
	fields := []field{{"Server version", versionString(server)}}
	if server != nil && server.Node != "" {
		fields = append(fields, field{"Server node", server.Node})
	}
	return fields
}
