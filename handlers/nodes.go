package handlers

import (
	"context"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/nodes"
	"github.com/gantry-dev/gantry/store"
)

// NodeLive is how recent a node's last heartbeat must be for it to count as live: three
// heartbeats (a node beats every store.DefaultLeaseRenew), so that one late or failed beat
// does not drop it, and a node that stopped or died drops out within that time.
const NodeLive = 3 * store.DefaultLeaseRenew

// ListNodes answers the live nodes sharing the store, in ID order (admins only).
func (a *API) ListNodes(ctx context.Context, _ nodes.ListNodesParams) middleware.Responder {
	if err := requireAdmin(ctx, "listing nodes"); err != nil {
		return a.errorResponse(err)
	}
	list, err := a.store.ListNodes(ctx, a.now().Add(-NodeLive))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.NodesWrapper{Nodes: make([]*models.Node, 0, len(list))}
	for _, n := range list {
		out.Nodes = append(out.Nodes, nodeToModel(n))
	}
	return nodes.NewListNodesOK().WithPayload(out)
}

func nodeToModel(n store.NodeInfo) *models.Node {
	id := n.ID
	started, beat := strfmt.DateTime(n.StartedAt.UTC()), strfmt.DateTime(n.Heartbeat.UTC())
	running, hot := int64(n.Running), int64(n.Hot)
	return &models.Node{ID: &id, Version: n.Version, Addr: n.Addr, StartedAt: &started, Heartbeat: &beat, Running: &running, Hot: &hot}
}
