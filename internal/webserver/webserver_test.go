package webserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestHealthy(t *testing.T) {
	for method, want := range map[string]int{http.MethodGet: 200, http.MethodHead: 200, http.MethodPost: 405} {
		rec := httptest.NewRecorder()
		Healthy().ServeHTTP(rec, httptest.NewRequest(method, "/-/healthy", nil))
		if rec.Code != want {
			t.Errorf("%s = %d, want %d", method, rec.Code, want)
		}
	}
}

func flags(addr, cfg string) *web.FlagConfig {
	sd := false
	return &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &sd, WebConfigFile: &cfg}
}

func TestRunServesWithBasicAuthAndShutsDown(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("basic_auth_users:\n  ops: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Healthy(), flags(addr, cfg), log.NewNopLogger()) }()
	var code int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			break
		}
	}
	if code != 401 {
		t.Fatalf("without credentials: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.SetBasicAuth("ops", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "OK\n" {
		t.Fatalf("with credentials: %d %q", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunReportsListenErrors(t *testing.T) {
	err := Run(context.Background(), Healthy(), flags("256.0.0.1:1", ""), log.NewNopLogger())
	if err == nil {
		t.Fatal("an impossible address was accepted")
	}
}
