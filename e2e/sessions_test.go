package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/lab"
)

// frontendSessions: real clients through HAProxy's frontends reach real
// listeners on the lab's nodes. A WebSocket client through fe_wcs is a
// session on a WCS node and plays media; an RTMP publish through fe_rtmp
// and an HTTP-FLV play through fe_play carry bytes end to end; two MQTT
// clients through fe_mqtt land on the two EMQX nodes (leastconn). HAProxy's
// health checks of those listeners count as neither sessions nor garbage.
// Every session ends before it returns.
func frontendSessions(t *testing.T, ctx context.Context, s *demo.Stack) {
	t0 := time.Now()
	hc := &http.Client{Timeout: 3 * time.Second}
	status := func(ctx context.Context, name string) (lab.Status, error) {
		var st lab.Status
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, demo.URL(s.Ports.LabPort(name))+"/lab/load", nil)
		if err != nil {
			return st, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return st, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return st, fmt.Errorf("%s /lab/load: %s", name, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return st, err
		}
		if st.Live == nil {
			return st, fmt.Errorf("%s reports no live sessions: its client ports are closed", name)
		}
		return st, nil
	}
	// waitLive waits until cond holds for the named servers' live status.
	waitLive := func(what string, within time.Duration, names []string, cond func(map[string]lab.LiveStatus) bool) {
		t.Helper()
		_, _, err := demo.WaitFor(ctx, what, within, func(ctx context.Context) (bool, string, error) {
			live := map[string]lab.LiveStatus{}
			var seen []string
			for _, n := range names {
				st, err := status(ctx, n)
				if err != nil {
					return false, "", err
				}
				live[n] = *st.Live
				seen = append(seen, fmt.Sprintf("%s %d sessions, %d B in, %d B out", n, st.Live.Sessions, st.Live.BytesIn, st.Live.BytesOut))
			}
			return cond(live), strings.Join(seen, "; "), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Every server's health check passes against its real listener.
	_, _, err := demo.WaitFor(ctx, "every HAProxy server UP", 20*time.Second, func(ctx context.Context) (bool, string, error) {
		all, err := s.Servers(ctx)
		if err != nil {
			return false, "", err
		}
		up, seen := 0, []string{}
		for _, st := range all {
			if st.Server == "BACKEND" || st.Server == "FRONTEND" {
				continue
			}
			if st.State() == "UP" && (st.CheckStatus == "L4OK" || st.CheckStatus == "L7OK") {
				up++
			}
			seen = append(seen, st.Backend+"/"+st.Server+" "+st.Status+" "+st.CheckStatus)
		}
		return up == 6, strings.Join(seen, ", "), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// WCS: one WebSocket client through fe_wcs (routed on its Upgrade
	// header) is one session on one of the two nodes, and plays media.
	wcs := []string{"wcs1", "wcs2"}
	cl, err := lab.DialWCS(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", s.Ports.WCS), nil)
	if err != nil {
		t.Fatalf("WebSocket through fe_wcs: %v", err)
	}
	defer cl.Close()
	if _, err := cl.Play(ctx, "e2e", 0); err != nil {
		t.Fatalf("play through fe_wcs: %v", err)
	}
	waitLive("the WebSocket session on a WCS node, media flowing", 10*time.Second, wcs, func(l map[string]lab.LiveStatus) bool {
		return l["wcs1"].Sessions+l["wcs2"].Sessions == 1 && l["wcs1"].BytesOut+l["wcs2"].BytesOut > 0 && cl.Received() > 0
	})
	if err := cl.Close(); err != nil {
		t.Errorf("closing the WebSocket client: %v", err)
	}

	// SRS: an RTMP publish through fe_rtmp and an HTTP-FLV play through
	// fe_play, each a session on its node, bytes counted at both ends.
	pub, err := lab.PublishRTMP(ctx, fmt.Sprintf("rtmp://127.0.0.1:%d/live/e2e", s.Ports.RTMP), 500_000)
	if err != nil {
		t.Fatalf("RTMP publish through fe_rtmp: %v", err)
	}
	defer pub.Close()
	play, err := lab.PlayFLV(ctx, nil, fmt.Sprintf("http://127.0.0.1:%d/live/e2e.flv", s.Ports.Play))
	if err != nil {
		t.Fatalf("HTTP-FLV play through fe_play: %v", err)
	}
	defer play.Close()
	waitLive("the RTMP publish and the HTTP-FLV play carry bytes", 10*time.Second, []string{"srs-origin1", "srs-edge1"}, func(l map[string]lab.LiveStatus) bool {
		o, e := l["srs-origin1"], l["srs-edge1"]
		return o.Sessions == 1 && o.BytesIn > 0 && pub.Bytes() > 0 &&
			e.Sessions == 1 && e.BytesOut > 0 && play.Video() > 0
	})
	t.Logf("RTMP publisher sent %d B, FLV player read %d B (%d video tags)", pub.Bytes(), play.Bytes(), play.Video())
	for what, c := range map[string]interface{ Close() error }{"RTMP publisher": pub, "FLV player": play} {
		if err := c.Close(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	// EMQX: two MQTT clients through fe_mqtt; leastconn sends the second
	// to the node without a connection. HAProxy counts one session per
	// server, and each node's API one more live connection than before.
	key, err := os.ReadFile(s.Files.EMQXKey)
	if err != nil {
		t.Fatal(err)
	}
	user, secret, _ := strings.Cut(strings.TrimSpace(string(key)), ":")
	nodes := func(ctx context.Context) ([]int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, demo.URL(s.Ports.LabPort("emqx1"))+"/api/v5/nodes", nil)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(user, secret)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var list []struct {
			Live int `json:"live_connections"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return nil, err
		}
		var out []int
		for _, n := range list {
			out = append(out, n.Live)
		}
		return out, nil
	}
	before, err := nodes(ctx)
	if err != nil || len(before) != 2 {
		t.Fatalf("EMQX nodes before: %v %v", before, err)
	}
	var mqtts []*lab.MQTTClient
	defer func() {
		for _, m := range mqtts {
			m.Close()
		}
	}()
	for i := range 2 {
		m, err := lab.DialMQTT(ctx, "127.0.0.1:"+strconv.Itoa(s.Ports.MQTT), lab.MQTTOptions{ClientID: "e2e-" + strconv.Itoa(i+1), Username: user, Password: secret})
		if err != nil {
			t.Fatalf("MQTT client %d through fe_mqtt: %v", i+1, err)
		}
		mqtts = append(mqtts, m)
	}
	_, _, err = demo.WaitFor(ctx, "one MQTT client on each EMQX node", 10*time.Second, func(ctx context.Context) (bool, string, error) {
		e1, err := s.Stat(ctx, "be_mqtt", "emqx1")
		if err != nil {
			return false, "", err
		}
		e2, err := s.Stat(ctx, "be_mqtt", "emqx2")
		if err != nil {
			return false, "", err
		}
		now, err := nodes(ctx)
		if err != nil || len(now) != 2 {
			return false, "", fmt.Errorf("EMQX nodes: %v %v", now, err)
		}
		return e1.Sessions == 1 && e2.Sessions == 1 && now[0] == before[0]+1 && now[1] == before[1]+1,
			fmt.Sprintf("HAProxy emqx1 %d, emqx2 %d sessions; nodes' live_connections %v (before %v)", e1.Sessions, e2.Sessions, now, before), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, m := range mqtts {
		m.Close()
	}
	mqtts = nil

	// Every session has ended; the health checks that hit every listener
	// all along were neither sessions nor garbage.
	all := []string{"wcs1", "wcs2", "srs-origin1", "srs-edge1", "emqx1"}
	waitLive("every session ended", 15*time.Second, all, func(l map[string]lab.LiveStatus) bool {
		for _, n := range all {
			if l[n].Sessions != 0 {
				return false
			}
		}
		return true
	})
	for _, name := range all {
		st, err := status(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Live.Garbage != 0 || st.Live.Refused != 0 {
			t.Errorf("%s counted %d garbage and %d refused clients", name, st.Live.Garbage, st.Live.Refused)
		}
	}
	t.Logf("sessions through fe_wcs, fe_rtmp, fe_play and fe_mqtt reached their nodes in %s", time.Since(t0).Round(10*time.Millisecond))
}
