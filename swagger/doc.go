// Package swagger holds Gantry's API contract, swagger.yml, the single source of truth
// for the management API. `go generate ./swagger` (or `make generate`) regenerates
// ../gen/models, ../gen/restapi and ../gen/client from it; nothing in gen/ is edited by hand.
package swagger

//go:generate bash generate.sh
