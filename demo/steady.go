package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
)

// After the scenario the demo keeps light real traffic flowing on every
// kind, so that the dashboards go on showing sessions, bytes and
// per-stream series while the stack waits for Ctrl-C.

// Sizes of the after-scenario traffic.
const (
	SteadyWCSStream     = "demo-live" // the WCS stream its publishers and players use
	SteadyWCSPublishers = 2           // WebSocket publishers through fe_wcs
	SteadyWCSPlayers    = 4           // WebSocket players through fe_wcs
	SteadyRTMPStream    = "steady"    // the RTMP stream published through fe_rtmp
	SteadyFLVPlayers    = 2           // HTTP-FLV players through fe_play
	SteadyHLSPlayers    = 1           // HLS players through fe_play
	SteadyMQTT          = 2           // MQTT clients through fe_mqtt, each subscribed and publishing
	steadyKbps          = 32          // WCS media bitrate, per stream
	steadyRTMPBitrate   = 200_000     // RTMP publish, bit/s
	steadyOpen          = 20 * time.Second
)

// Steady is the after-scenario traffic; Stop ends it.
type Steady struct {
	stop    context.CancelFunc
	once    sync.Once
	wcs     []*lab.WCSClient
	rtmp    *lab.RTMPPublisher
	flv     []*lab.FLVPlayer
	hls     []*lab.HLSPlayer
	mqtt    []*lab.MQTTClient
	mqttRun sync.WaitGroup
}

// KeepTraffic opens the after-scenario traffic through HAProxy's
// frontends: WebSocket publishers and players of one stream through
// fe_wcs, an RTMP publish through fe_rtmp with HTTP-FLV and HLS players
// of it through fe_play, and MQTT clients through fe_mqtt that subscribe
// to demo/# and publish once a second. The clients live until Stop (ctx
// only bounds their opening); on error the ones opened are closed.
func (s *Stack) KeepTraffic(ctx context.Context) (st *Steady, err error) {
	live, stop := context.WithCancel(context.Background())
	st = &Steady{stop: stop}
	defer func() {
		if err != nil {
			st.Stop()
			st = nil
		}
	}()
	// ctx bounds the opening of a WebSocket or MQTT session only: their
	// connections outlive it.
	open := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, steadyOpen) }

	ws := fmt.Sprintf("ws://127.0.0.1:%d/", s.Ports.WCS)
	for i := range SteadyWCSPublishers + SteadyWCSPlayers {
		octx, cancel := open()
		cl, err := lab.DialWCS(octx, ws, nil)
		if err != nil {
			cancel()
			return st, fmt.Errorf("WebSocket client through fe_wcs: %w", err)
		}
		st.wcs = append(st.wcs, cl)
		if i < SteadyWCSPublishers {
			_, err = cl.Publish(octx, SteadyWCSStream+"-"+strconv.Itoa(i+1), steadyKbps)
		} else {
			_, err = cl.Play(octx, SteadyWCSStream+"-"+strconv.Itoa(i%SteadyWCSPublishers+1), steadyKbps)
		}
		cancel()
		if err != nil {
			return st, fmt.Errorf("WebSocket stream through fe_wcs: %w", err)
		}
	}

	pub, err := lab.PublishRTMP(live, fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", s.Ports.RTMP, SteadyRTMPStream), steadyRTMPBitrate)
	if err != nil {
		return st, fmt.Errorf("RTMP publish through fe_rtmp: %w", err)
	}
	st.rtmp = pub
	play := fmt.Sprintf("http://127.0.0.1:%d/live/%s", s.Ports.Play, SteadyRTMPStream)
	for range SteadyFLVPlayers {
		p, err := lab.PlayFLV(live, nil, play+".flv")
		if err != nil {
			return st, fmt.Errorf("HTTP-FLV play through fe_play: %w", err)
		}
		st.flv = append(st.flv, p)
	}
	for range SteadyHLSPlayers {
		p, err := playHLSWhenReady(ctx, live, play+".m3u8")
		if err != nil {
			return st, fmt.Errorf("HLS play through fe_play: %w", err)
		}
		st.hls = append(st.hls, p)
	}

	key, err := os.ReadFile(s.Files.EMQXKey)
	if err != nil {
		return st, err
	}
	user, secret, _ := strings.Cut(strings.TrimSpace(string(key)), ":")
	for i := range SteadyMQTT {
		octx, cancel := open()
		m, err := lab.DialMQTT(octx, "127.0.0.1:"+strconv.Itoa(s.Ports.MQTT),
			lab.MQTTOptions{ClientID: "demo-steady-" + strconv.Itoa(i+1), Username: user, Password: secret})
		if err != nil {
			cancel()
			return st, fmt.Errorf("MQTT client through fe_mqtt: %w", err)
		}
		st.mqtt = append(st.mqtt, m)
		err = m.Subscribe(octx, 0, "demo/#")
		cancel()
		if err != nil {
			return st, fmt.Errorf("MQTT subscribe: %w", err)
		}
		st.mqttRun.Add(1)
		go func() {
			defer st.mqttRun.Done()
			_ = m.PublishAt(live, "demo/steady"+strconv.Itoa(i+1), 0, 1, []byte(`{"t":20.5}`))
		}()
	}
	return st, nil
}

// playHLSWhenReady opens an HLS player once the edge has a playlist for
// the stream (its first segment follows the publish by a moment).
func playHLSWhenReady(ctx, live context.Context, u string) (*lab.HLSPlayer, error) {
	deadline := time.Now().Add(steadyOpen)
	for {
		p, err := lab.PlayHLS(live, nil, u)
		var se *lab.StatusError
		if err == nil || !errors.As(err, &se) || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop closes every client of the after-scenario traffic; it may be
// called more than once.
func (st *Steady) Stop() {
	if st == nil {
		return
	}
	st.once.Do(func() {
		st.stop()
		st.mqttRun.Wait()
		var wg sync.WaitGroup
		for _, c := range st.wcs {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Close() }()
		}
		wg.Wait()
		for _, m := range st.mqtt {
			m.Close()
		}
		for _, p := range st.flv {
			_ = p.Close()
		}
		for _, p := range st.hls {
			_ = p.Close()
		}
		if st.rtmp != nil {
			_ = st.rtmp.Close()
		}
	})
}

// Carrying says whether every client still carries bytes: the WebSocket
// clients are connected, the RTMP publish, the players and the MQTT
// clients have moved data. It describes what it saw.
func (st *Steady) Carrying() (bool, string) {
	ok := true
	conn := 0
	for _, c := range st.wcs {
		select {
		case <-c.Done():
			ok = false
		default:
			conn++
		}
	}
	var flv, hls, mqtt int64
	for _, p := range st.flv {
		flv += p.Bytes()
		ok = ok && p.Bytes() > 0
	}
	for _, p := range st.hls {
		hls += p.Bytes()
		ok = ok && p.Bytes() > 0
	}
	for _, m := range st.mqtt {
		in, _ := m.WireBytes()
		mqtt += in
		ok = ok && in > 0
	}
	ok = ok && st.rtmp != nil && st.rtmp.Bytes() > 0
	return ok, fmt.Sprintf("%d of %d WebSocket clients connected; HTTP-FLV %d B, HLS %d B read; MQTT %d B in",
		conn, len(st.wcs), flv, hls, mqtt)
}
