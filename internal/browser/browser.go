// Package browser starts a headless Chromium for the page tests and the
// page benchmark, driven over the DevTools protocol by chromedp. The
// machine it runs on may have no outside network, so everything that
// would phone home (updates, sync, background fetches) is switched off,
// and every start gets a fresh profile.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// Options are the allocator options: headless, no sandbox (containers and
// CI run as root), no GPU, nothing in the background, a fresh profile in
// dataDir, a fixed window so screenshots are the same size every time.
func Options(execPath, dataDir string, log io.Writer) []chromedp.ExecAllocatorOption {
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(dataDir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("log-level", "3"), // fatal only: no D-Bus complaints in test output
		chromedp.WindowSize(1400, 900),
	)
	if log != nil {
		opts = append(opts, chromedp.CombinedOutput(log))
	}
	return opts
}

// Start runs Chromium at execPath with a fresh profile under a new
// temporary directory and returns a browser tab's context; stop ends the
// browser and removes the profile.
func Start(parent context.Context, execPath string, log io.Writer) (ctx context.Context, stop func(), err error) {
	dir, err := os.MkdirTemp("", "lbpilot-chromium-")
	if err != nil {
		return nil, nil, fmt.Errorf("chromium profile: %w", err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, Options(execPath, dir, log)...)
	tctx, cancelTab := chromedp.NewContext(actx)
	stop = func() {
		cancelTab()
		cancelAlloc()
		_ = os.RemoveAll(dir)
	}
	// The first Run starts the browser: fail here, not in the first test step.
	if err := chromedp.Do(tctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("starting chromium %s: %w", execPath, err)
	}
	return tctx, stop, nil
}

// Tab is a browser tab of a test: its steps fail the test with the
// browser's output attached.
type Tab struct {
	T    testing.TB
	Ctx  context.Context
	Logs *testenv.SyncBuffer
}

// NewTab starts Chromium for a test; it fails in CI, and skips elsewhere,
// when chromium is not installed. The browser ends with the test.
func NewTab(t testing.TB) *Tab {
	t.Helper()
	bin := testenv.Binary(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	logs := &testenv.SyncBuffer{}
	tctx, stop, err := Start(ctx, bin, logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	t.Cleanup(stop)
	return &Tab{T: t, Ctx: tctx, Logs: logs}
}

// Do runs the steps.
func (b *Tab) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, steps...); err != nil {
		b.T.Fatalf("browser: %v\n%s", err, b.Logs.String())
	}
}

// Eval runs a JavaScript expression (awaiting a promise) and decodes its value.
func Eval[T any](b *Tab, expr string) T {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.T.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// Wait polls a JavaScript condition until it holds, failing the test with
// the page's text when it does not within the time.
func (b *Tab) Wait(cond string, within time.Duration) {
	b.T.Helper()
	deadline := time.Now().Add(within)
	for {
		if Eval[bool](b, "!!("+cond+")") {
			return
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("page: %s still false after %s; page text:\n%s", cond, within, Eval[string](b, "document.body.innerText"))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Text is the text content of the first element a CSS selector matches
// ("<missing …>" when none does).
func (b *Tab) Text(css string) string {
	b.T.Helper()
	return Eval[string](b, fmt.Sprintf("(function(){var e=document.querySelector(%s);return e?e.textContent:'<missing '+%s+'>';})()", jsString(css), jsString(css)))
}

// Screenshot writes a PNG of the whole page, or of the window only (what a
// modal dialog covers).
func (b *Tab) Screenshot(file string, wholePage bool) {
	b.T.Helper()
	shot := chromedp.CaptureScreenshot()
	if wholePage {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.Ctx, shot)
	if err != nil {
		b.T.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
}

func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// SetValue sets a form field's value (an empty one too, which chromedp's
// SetValue reports as a failure).
func (b *Tab) SetValue(css, value string) {
	b.T.Helper()
	if !Eval[bool](b, fmt.Sprintf("(function(){var e=document.querySelector(%s);if(!e)return false;e.value=%s;return true})()", jsString(css), jsString(value))) {
		b.T.Fatalf("no field %s", css)
	}
}
