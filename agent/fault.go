package agent

import "github.com/geofence/geofence/internal/fault"

// Fault is a failure the agent simulates on its listener, for failover tests and
// `geofence dev` (package fault): it acts below HTTP, on the listener and its connections, so
// it looks to a client like a datacenter failing, whatever the protocol.
//
// A fault does not stop the load reports: the directory keeps listing the datacenter, which is
// the gray failure a client's staggered attempts and secondaries exist for (DESIGN.md
// section 4). To take a datacenter out of the directory's answers, stop its agent.
type Fault = fault.Mode

// The faults (see package fault for what each does).
const (
	FaultNone      = fault.None
	FaultBlackhole = fault.Blackhole
	FaultRefuse    = fault.Refuse
)

// ParseFault parses a fault's name: "none" (or ""), "blackhole" or "refuse".
func ParseFault(s string) (Fault, error) { return fault.Parse(s) }
