package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
)

// errNodeNotRunning is an EMQX answer in which the local node is stopped.
var errNodeNotRunning = errors.New("node not running")

// EMQXSource reads one EMQX node through the collector: by default the
// node answering the API (EMQX 5's /cluster "self"), else the node named
// in API.Node (EMQX 4 and emqttd 2 need the name). connections is the
// node's live connections (live_connections.count, EMQX 4.4+ and 5), else
// connections.count.
type EMQXSource struct {
	API *emqxapi.API
}

// Sample implements Source.
func (e *EMQXSource) Sample(ctx context.Context) (Sample, error) {
	st, err := e.API.Fetch(ctx)
	if err != nil {
		return Sample{}, err
	}
	for i := range st.Nodes {
		if !st.Nodes[i].Running {
			return Sample{}, fmt.Errorf("EMQX node %s: %w (status %q)", st.Nodes[i].Name, errNodeNotRunning, st.Nodes[i].Status)
		}
	}
	var s Sample
	if hasStat(st, "live_connections.count") {
		s.Set(Connections, st.LiveConnections())
	} else {
		s.Set(Connections, st.Connections())
	}
	return s, nil
}

func hasStat(st *emqxapi.Stats, key string) bool {
	for _, v := range st.Stats {
		if _, ok := v[key]; ok {
			return true
		}
	}
	return false
}
