// Package swagger holds Gantry's API contracts: swagger.yml, the single source of truth
// for the management API (/v1), and waas.yml, the hpcwaas-api compatibility surface (/waas;
// WAAS.md records what its client needs). `go generate ./swagger` (or `make generate`)
// regenerates ../gen/{models,restapi,client} from swagger.yml and ../gen/waas/{models,restapi,client}
// from waas.yml; nothing in gen/ is edited by hand.
package swagger

//go:generate bash generate.sh
