package main

// This file holds what the benchmarks ask Docker: the containers the server runs for a
// route (found by the labels it puts on them), to call them directly or count them.

import (
	"context"
	"net"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/runner"
)

// routeFilter selects the server's containers of route, with more filters.
func (b *bench) routeFilter(route string, more ...filters.KeyValuePair) filters.Args {
	return filters.NewArgs(append([]filters.KeyValuePair{
		filters.Arg("label", runner.LabelInstance+"="+b.srv.instance), filters.Arg("label", runner.LabelRoute+"="+route),
	}, more...)...)
}

// containers counts a route's containers in any state.
func (b *bench) containers(ctx context.Context, route string) (int, error) {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: b.routeFilter(route)})
	return len(list), err
}

// runningContainers counts a route's running containers.
func (b *bench) runningContainers(ctx context.Context, route string) (int, error) {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{Filters: b.routeFilter(route, filters.Arg("status", "running"))})
	return len(list), err
}

// hotContainers returns the addresses of a route's running containers.
func (b *bench) hotContainers(ctx context.Context, route string) ([]string, error) {
	list, err := b.docker.ContainerList(ctx, container.ListOptions{Filters: b.routeFilter(route)})
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, c := range list {
		for _, ep := range c.NetworkSettings.Networks {
			if ep.IPAddress != "" {
				addrs = append(addrs, net.JoinHostPort(ep.IPAddress, "8080"))
			}
		}
	}
	return addrs, nil
}
