package handlers

import (
	"context"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/meta"
)

// GetVersion answers the server's version, and the node that answers.
func (a *API) GetVersion(_ context.Context, _ meta.GetVersionParams) middleware.Responder {
	v := a.version
	return meta.NewGetVersionOK().WithPayload(&models.Version{Version: &v, Node: a.node})
}
