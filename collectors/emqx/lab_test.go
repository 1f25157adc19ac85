package emqx

import (
	"context"
	"testing"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// TestLabGenerations detects and reads lab clusters of every API
// generation, with a stopped node, and checks the agent's numbers.
func TestLabGenerations(t *testing.T) {
	load := lab.Load{Connections: 900, Sessions: 1000, Subscriptions: 3000, Topics: 120, StoppedNodes: 1, MessagesInRate: 100}
	for _, v := range []emqxapi.Version{emqxapi.V5, emqxapi.V4, emqxapi.V2} {
		s, err := lab.Start(lab.Config{Kind: lab.EMQX, Name: "emqx-" + string(v), EMQXVersion: string(v), EMQXNodes: 3, APIKey: "k", APISecret: "s", Load: load}, "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := emqxapi.Fetch(context.Background(), nil, s.URL, upstream.Auth{Username: "k", Password: "s"})
		s.Close()
		emqxapi.ForgetDetected(s.URL)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if st.API != v || st.RunningNodes() != 2 || st.StoppedNodes() != 1 || st.Connections() != 1000 || st.Sessions() != 1000 {
			t.Errorf("%s: api %s, %d running, %d stopped, %v connections, %v sessions", v, st.API, st.RunningNodes(), st.StoppedNodes(), st.Connections(), st.Sessions())
		}
		if v != emqxapi.V2 && st.LiveConnections() != 900 {
			t.Errorf("%s: live connections %v", v, st.LiveConnections())
		}
	}
}
