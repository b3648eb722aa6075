package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/go-openapi/loads"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/restapi"
	waasrestapi "github.com/gantry-dev/gantry/gen/waas/restapi"
)

// rolesExtension is the vendor extension of an operation of the spec that lists the roles,
// besides admin and developer, that may call it: `x-gantry-roles: [user]`.
const rolesExtension = "x-gantry-roles"

// operationRoles are the operations of the spec open to roles other than admin and
// developer, as method + path templates under /v1, with those roles. It is read from the
// spec at start-up, so that opening an operation to end users is a line of the contract.
type operationRoles []roleOperation

type roleOperation struct {
	publicOperation
	roles []string
}

// The roles of the two specs, read once per process: the specs are compiled in, and
// analysing one is most of what building a Handler costs. Never written after.
var (
	loadOperationRoles = sync.OnceValues(func() (operationRoles, error) { return operationRolesOf(restapi.SwaggerJSON) })
	loadWaaSRoles      = sync.OnceValues(func() (operationRoles, error) { return operationRolesOf(waasrestapi.SwaggerJSON) })
)

// operationRolesOf reads the operation roles of a spec (swagger.yml's, or waas.yml's).
func operationRolesOf(specJSON []byte) (operationRoles, error) {
	doc, err := loads.Analyzed(specJSON, "")
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	var out operationRoles
	for method, byPath := range doc.Analyzer.Operations() {
		for path, op := range byPath {
			raw, ok := op.Extensions[rolesExtension]
			if !ok {
				continue
			}
			list, ok := raw.([]any)
			if !ok {
				return nil, fmt.Errorf("spec: %s of %s is not a list", rolesExtension, op.ID)
			}
			ro := roleOperation{publicOperation: publicOperation{method: strings.ToUpper(method), segments: strings.Split(doc.BasePath()+path, "/")}}
			for _, v := range list {
				role, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("spec: %s of %s holds a non-string", rolesExtension, op.ID)
				}
				ro.roles = append(ro.roles, role)
			}
			out = append(out, ro)
		}
	}
	return out, nil
}

// allows tells whether an identity of role may call method on path. Admins and developers
// may reach every operation (the handlers check what they own); any other role only the
// operations that list it — any other request, even to a path that is no operation,
// is forbidden to it.
func (o operationRoles) allows(role, method, path string) bool {
	if role == auth.RoleAdmin || role == auth.RoleDeveloper {
		return true
	}
	if method == http.MethodHead {
		method = http.MethodGet
	}
	segs := strings.Split(path, "/")
	for _, op := range o {
		if op.method == method && matchSegments(op.segments, segs) && slices.Contains(op.roles, role) {
			return true
		}
	}
	return false
}
