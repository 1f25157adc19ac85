package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestStartLoadsAPage(t *testing.T) {
	bin := testenv.Binary(t, "chromium")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!DOCTYPE html><title>t</title><p id="x">hello</p>`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs testenv.SyncBuffer
	tab, stop, err := Start(ctx, bin, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	text, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("#x")))
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	if text != "hello" {
		t.Fatalf("text %q", text)
	}
}

func TestStartFailsOnAMissingBinary(t *testing.T) {
	_, _, err := Start(context.Background(), "/nonexistent/chromium", nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/chromium") {
		t.Fatalf("err %v", err)
	}
}
