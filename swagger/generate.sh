#!/usr/bin/env bash
# Regenerates ../gen from the specs with a pinned go-swagger, run through `go run`
# so contributors need nothing installed. Called by `go generate ./...` and `make generate`.
#
#   swagger.yml -> ../gen/{models,restapi,client}            (the /v1 API)
#   waas.yml    -> ../gen/waas/{models,restapi,client}       (the /waas hpcwaas-api compatibility surface)
#   ironfunctions.yml -> ../gen/ironfunctions/{models,restapi,client} (the IronFunctions v1 surface)
#
# Server: go-swagger's "stratoscale" template. restapi.HandlerAPI(Config{...}) takes our
# implementations as interfaces (one per tag), so an operation without a hand-written
# handler fails to compile, and there is no package-level state. The template writes
# `//go:generate mockery` directives that would make `go generate ./...` need mockery;
# they are stripped here, as part of generation. Each spec's principal is its own models'
# Principal: go-swagger imports a principal package named `models` under the same name as
# the spec's own models package, so /waas cannot take gen/models.Principal.
set -euo pipefail
cd "$(dirname "$0")"
SWAGGER="go run github.com/go-swagger/go-swagger/cmd/swagger@v0.36.7"
MODULE=github.com/gantry-dev/gantry

# generate SPEC TARGET APPNAME PRINCIPAL
generate() {
  local spec=$1 target=$2 app=$3 principal=$4
  rm -rf "$target/models" "$target/restapi" "$target/client"
  mkdir -p "$target"
  $SWAGGER generate server --quiet -f "$spec" -t "$target" -A "$app" \
    --template=stratoscale --exclude-main --principal="$principal" >/dev/null
  $SWAGGER generate client --quiet -f "$spec" -t "$target" -A "$app" \
    --principal="$principal" >/dev/null
  sed -i '/^\/\/go:generate mockery/d' "$target/restapi/configure_$app.go"
  gofmt -w "$target"
}

generate swagger.yml ../gen gantry $MODULE/gen/models.Principal
generate waas.yml ../gen/waas waas $MODULE/gen/waas/models.Principal
generate ironfunctions.yml ../gen/ironfunctions ironfunctions $MODULE/gen/ironfunctions/models.Principal
