package store

import "time"

// NodeInfo is what a node tells of itself at each heartbeat.
type NodeInfo struct {
	ID        string    `json:"id"`            // the node's InstanceID
	Run       string    `json:"run,omitempty"` // this run of the node (a new one at each start)
	Version   string    `json:"version,omitempty"`
	Addr      string    `json:"addr,omitempty"` // where its management API listens
	StartedAt time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat"`
	Running   int       `json:"running"` // calls running on the node now
	Hot       int       `json:"hot"`     // hot containers it keeps
	// HotRoutes breaks Hot down by route (those with at least one), in app then path order.
	HotRoutes []RouteHot `json:"hot_routes,omitempty"`
}

// Default lease timing of async calls: a node renews its workers' leases every
// DefaultLeaseRenew; a lease not renewed for DefaultLease (its node died) ends, and its
// task goes back to the queue.
const (
	DefaultLease      = 15 * time.Second
	DefaultLeaseRenew = DefaultLease / 3
	// DeadNodeAfter is how long a node stays silent before the others take it for dead
	// and end its sync calls (RecoverDeadNodes): twelve missed heartbeats.
	DeadNodeAfter = 12 * DefaultLeaseRenew
)
