// Package browser starts a headless Chromium for the page tests and the
// page benchmark, driven over the DevTools protocol by chromedp. The
// machine it runs on may have no outside network, so everything that
// would phone home (updates, sync, background fetches) is switched off,
// and every start gets a fresh profile.
package browser

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/chromedp/chromedp"
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
