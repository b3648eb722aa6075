#!/usr/bin/env bash
# Regenerates ../gen from swagger.yml with a pinned go-swagger, run through `go run`
# so contributors need nothing installed. Called by `go generate ./...` and `make generate`.
#
# Server: go-swagger's "stratoscale" template. restapi.HandlerAPI(Config{...}) takes our
# implementations as interfaces (one per tag), so an operation without a hand-written
# handler fails to compile, and there is no package-level state. The template writes
# `//go:generate mockery` directives that would make `go generate ./...` need mockery;
# they are stripped here, as part of generation.
set -euo pipefail
cd "$(dirname "$0")"
SWAGGER="go run github.com/go-swagger/go-swagger/cmd/swagger@v0.36.7"
GEN=../gen

rm -rf "$GEN/models" "$GEN/restapi" "$GEN/client"
mkdir -p "$GEN"
$SWAGGER generate server --quiet -f swagger.yml -t "$GEN" -A gantry \
  --template=stratoscale --exclude-main \
  --principal=github.com/gantry-dev/gantry/gen/models.Principal >/dev/null
$SWAGGER generate client --quiet -f swagger.yml -t "$GEN" -A gantry \
  --principal=github.com/gantry-dev/gantry/gen/models.Principal >/dev/null
sed -i '/^\/\/go:generate mockery/d' "$GEN"/restapi/configure_gantry.go
gofmt -w "$GEN"
