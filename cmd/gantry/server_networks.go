package main

// This file holds the networks an administrator registers for routes: --network.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/store"
)

// parseNetworks reads the --network values: "NAME:OWNER,OWNER" (those owners' apps may use
// the network) or "NAME:*" (every owner's may), several separated by ";". A bare NAME is
// refused: a network is shared between tenants only when the administrator says so.
func parseNetworks(values []string, functionNetwork string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range values {
		for item := range strings.SplitSeq(v, ";") {
			name, owners, named := strings.Cut(strings.TrimSpace(item), ":")
			switch name = strings.TrimSpace(name); name {
			case "":
				if named {
					return nil, fmt.Errorf("%q names no network", item)
				}
				continue
			case store.NetworkBridge, store.NetworkNone, "host", "default", functionNetwork:
				return nil, fmt.Errorf("%q cannot be registered: it is Docker's or Gantry's own", name)
			}
			list, everyone := []string{}, false
			for o := range strings.SplitSeq(owners, ",") {
				switch o = strings.TrimSpace(o); {
				case o == "*":
					everyone = true
				case o == "":
				case store.ValidateUserName(o) != nil:
					return nil, fmt.Errorf("network %s: owner %q is not a user name (%s)", name, o, store.UserNameRule())
				default:
					list = append(list, o)
				}
			}
			prev, seen := out[name]
			switch {
			case everyone || seen && prev == nil:
				out[name] = nil // nil: every owner
			case len(list) == 0:
				return nil, fmt.Errorf("network %s: name the owners who may use it (%s:OWNER,OWNER), or %s:* for every owner", name, name, name)
			default:
				for _, o := range list {
					if !slices.Contains(out[name], o) { // an owner listed twice is still one owner
						out[name] = append(out[name], o)
					}
				}
			}
		}
	}
	return out, nil
}
