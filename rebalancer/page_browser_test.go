package rebalancer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lbpilot/lbpilot/internal/browser"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

const pageBackend = `
backend bk
    mode http
    default-server check inter 100ms rise 1 fall 1
    server web1 UP
    server web2 UP
    server web3 UP
    server web4 UP
`

// adminOf reads a server's admin state from `show servers state`.
func adminOf(t *testing.T, c *haproxyapi.Client, server string) string {
	t.Helper()
	ss, err := c.ShowServersState(context.Background(), "bk")
	if err != nil {
		return "unreachable: " + err.Error()
	}
	s, ok := ss.Find(haproxyapi.ServerRef{Backend: "bk", Server: server})
	if !ok {
		t.Fatalf("no bk/%s in show servers state", server)
	}
	switch {
	case s.Admin.Maint():
		return "MAINT"
	case s.Admin.Drain():
		return "DRAIN"
	}
	return "READY"
}

func (l *realLab) waitAdmin(server, want string, within time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for adminOf(l.t, l.client, server) != want {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: show servers state says %s after %s, want %s\n%s", server, adminOf(l.t, l.client, server), within, want, l.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// confirm fills the page's confirmation dialog and submits it.
func confirm(b *browser.Tab, reason string) {
	b.T.Helper()
	b.Wait(`document.getElementById('confirm').open`, 10*time.Second)
	b.SetValue("#f-author", "erin")
	b.SetValue("#f-reason", reason)
	b.Do(chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.Wait(`!document.getElementById('confirm').open || document.getElementById('confirm-error').textContent`, 10*time.Second)
	if msg := b.Text("#confirm-error"); msg != "" {
		b.T.Fatalf("the API refused: %s", msg)
	}
}

func rowState(server string) string {
	return `(document.querySelector('tr[data-server="` + server + `"] .state')||{}).textContent`
}

// TestPageInBrowserAgainstRealHAProxy drives the operator page in a real
// browser against a real rebalancer and a real haproxy: a drain by hand,
// an approval, a pause that keeps an alert from being applied, an alert
// label carrying markup, a guard refusal and a forced maint, a release.
func TestPageInBrowserAgainstRealHAProxy(t *testing.T) {
	lab := startRealLab(t, pageBackend, `rules: [{name: gated, matchers: ['alertname="Gated"'], action: drain, approve: true}]`)
	for _, s := range []string{"web1", "web2", "web3", "web4"} {
		lab.waitStatus(s, "UP", 10*time.Second)
	}
	b := browser.NewTab(t)
	b.Do(chromedp.Navigate(lab.srv.URL + "/"))
	b.Wait(`window.lbpilot && window.lbpilot.stats.polls >= 1`, 10*time.Second)
	b.Wait(rowState("web1")+` === 'READY'`, 10*time.Second)
	if csrf := browser.Eval[string](b, `document.querySelector('meta[name="csrf-token"]').content`); len(csrf) < 16 {
		t.Fatalf("page carries CSRF token %q", csrf)
	}

	// A drain by hand: confirmed in the page, in HAProxy, then on the page.
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-server="web1"] button[data-act="drain"]`)))
	confirm(b, "kernel update")
	lab.waitAdmin("web1", "DRAIN", 10*time.Second)
	b.Wait(rowState("web1")+` === 'DRAIN'`, 10*time.Second)
	if got := b.Text(`tr[data-server="web1"] [class^="owner-"]`); got != "operator" {
		t.Errorf("web1 owner on the page: %q", got)
	}
	if got := b.Text(`tr[data-server="web1"] .notes`); !strings.Contains(got, "hold drain by erin: kernel update") {
		t.Errorf("web1 notes: %q", got)
	}

	// An alert of a gated rule is proposed; approving it in the page applies it.
	t0 := time.Now().UTC()
	gated := alert(StatusFiring, "g1", "drain", "bk", "web2", t0)
	gated.Labels["alertname"] = "Gated"
	lab.post(body(gated))
	b.Wait(`document.querySelector('#proposals button[data-act="approve"]')`, 10*time.Second)
	if got := b.Text("#proposals tr"); !strings.Contains(got, "bk/web2") || !strings.Contains(got, "drain") {
		t.Errorf("proposal row: %q", got)
	}
	if got := adminOf(t, lab.client, "web2"); got != "READY" {
		t.Fatalf("web2 %s before approval", got)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#proposals button[data-act="approve"]`)))
	confirm(b, "")
	lab.waitAdmin("web2", "DRAIN", 10*time.Second)
	b.Wait(rowState("web2")+` === 'DRAIN'`, 10*time.Second)
	b.Wait(`document.querySelector('#proposals tr.empty')`, 10*time.Second)

	// Paused: an alert is recorded and shown, but not applied.
	b.Do(chromedp.Click(chromedp.CSS(`#pause-global button[data-act="pause"]`)))
	confirm(b, "incident 42")
	b.Wait(`document.querySelector('#pause-global .paused')`, 10*time.Second)
	if got := b.Text("#pause-global .paused"); !strings.Contains(got, "paused by erin") || !strings.Contains(got, "incident 42") {
		t.Errorf("pause shown as %q", got)
	}
	lab.post(body(alert(StatusFiring, "a3", "drain", "bk", "web3", t0)))
	b.Wait(`document.querySelector('tr[data-server="web3"] .alert')`, 10*time.Second)
	lab.holdStatus("web3", "UP", 3*labInterval)
	if got := adminOf(t, lab.client, "web3"); got != "READY" {
		t.Fatalf("web3 %s while paused", got)
	}
	b.Wait(rowState("web3")+` === 'READY'`, time.Second)

	// An alert label carrying markup is shown as text (web4 is the last
	// ready server, so the guard defers it: the page says why).
	x := alert(StatusFiring, "x4", "drain", "bk", "web4", t0)
	x.Labels["alertname"] = `<img src=x onerror="window.__xss=1">`
	x.Labels["summary"] = `<script>window.__xss=2</script>`
	lab.post(body(x))
	b.Wait(`document.querySelector('tr[data-server="web4"] .alert')`, 10*time.Second)

	// Resumed: the alert recorded while paused is applied.
	b.Do(chromedp.Click(chromedp.CSS(`#pause-global button[data-act="resume"]`)))
	confirm(b, "incident over")
	lab.waitAdmin("web3", "DRAIN", 10*time.Second)
	b.Wait(rowState("web3")+` === 'DRAIN'`, 10*time.Second)
	b.Wait(`document.querySelector('tr[data-server="web4"] .notes').textContent.indexOf('deferred: ') === 0`, 10*time.Second)
	if got := adminOf(t, lab.client, "web4"); got != "READY" {
		t.Errorf("web4 %s: the guard should have kept it", got)
	}
	if got := b.Text(`tr[data-server="web4"] .alert`); got != `<img src=x onerror="window.__xss=1">` {
		t.Errorf("alert name shown as %q", got)
	}
	if !strings.Contains(b.Text("#alerts"), `summary="<script>window.__xss=2</script>"`) {
		t.Errorf("alert labels: %q", b.Text("#alerts"))
	}
	if n := browser.Eval[int](b, `document.querySelectorAll('img').length + document.querySelectorAll('body script').length`); n != 0 {
		t.Errorf("%d elements made from labels", n)
	}
	if !browser.Eval[bool](b, `window.__xss === undefined`) {
		t.Error("markup from a label ran")
	}

	// The guard refuses a maint of the last ready server: the dialog says
	// why, nothing changes; forced, it is applied (and shown as forced).
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-server="web4"] button[data-act="maint"]`)))
	b.Wait(`document.getElementById('confirm').open`, 10*time.Second)
	b.SetValue("#f-author", "erin")
	b.SetValue("#f-reason", "disk swap")
	b.Do(chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.Wait(`document.getElementById('confirm-error').textContent !== ''`, 10*time.Second)
	if got := b.Text("#confirm-error"); !strings.HasPrefix(got, "409: ") || !strings.Contains(got, "(guard: ") {
		t.Errorf("guard refusal shown as %q", got)
	}
	if got := adminOf(t, lab.client, "web4"); got != "READY" {
		t.Fatalf("web4 %s after a refused maint", got)
	}
	b.Do(chromedp.Click(chromedp.CSS("#f-force")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.Wait(`!document.getElementById('confirm').open`, 10*time.Second)
	lab.waitAdmin("web4", "MAINT", 10*time.Second)
	b.Wait(`document.querySelector('tr[data-server="web4"] .notes').textContent.indexOf('hold maint by erin: disk swap [forced]') >= 0`, 10*time.Second)

	// Released, web1 goes back to the rebalancer: no alert, so ready.
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-server="web1"] button[data-act="release"]`)))
	confirm(b, "")
	lab.waitAdmin("web1", "READY", 10*time.Second)
	b.Wait(rowState("web1")+` === 'READY' && !document.querySelector('tr[data-server="web1"] button[data-act="release"]')`, 10*time.Second)
	b.Wait(`document.querySelectorAll('#history tr:not(.empty)').length >= 3`, 10*time.Second)

	if os.Getenv("LBPILOT_UPDATE_SCREENSHOTS") != "" {
		screenshots(t, b)
	}
}

// screenshots writes the page's pictures for docs/rebalancer.md.
func screenshots(t *testing.T, b *browser.Tab) {
	dir := filepath.Join("..", "docs", "images")
	b.Screenshot(filepath.Join(dir, "rebalancer-page.png"), true)
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-server="web1"] button[data-act="drain"]`)))
	b.Wait(`document.getElementById('confirm').open`, 10*time.Second)
	b.SetValue("#f-author", "erin")
	b.SetValue("#f-reason", "kernel update")
	b.SetValue("#f-expires", "2h")
	b.Screenshot(filepath.Join(dir, "rebalancer-page-confirm.png"), false)
	t.Logf("screenshots written to %s", dir)
}
