package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/rebalancer"
)

func init() {
	register("ctl", "Control a running rebalancer: status, pause, resume, drain, maint, ready, weight, release, approve, reject, history.", newCtlRole)
}

// ctlRole is `lbpilot ctl`: a client of the rebalancer's operator API.
type ctlRole struct {
	url               string
	username          string
	passwordFile      string
	bearerTokenFile   string
	caFile            string
	certFile, keyFile string
	serverName        string
	insecure          bool
	timeout           time.Duration
	output            string
	author            string

	sub string // the subcommand chosen

	backend, server, id string
	reason, expiresIn   string
	restores, force     bool
	weight              int
	since               string
	limit               int
}

func newCtlRole(cmd *kingpin.CmdClause) role {
	c := &ctlRole{}
	cmd.Flag("rebalancer.url", "Base URL of the rebalancer.").Default("http://127.0.0.1:9709").StringVar(&c.url)
	cmd.Flag("auth.username", "Basic auth user name (the web configuration file of the rebalancer).").Default("").StringVar(&c.username)
	cmd.Flag("auth.password-file", "File holding the basic auth password.").Default("").StringVar(&c.passwordFile)
	cmd.Flag("auth.bearer-token-file", "File holding the bearer token (the rebalancer's bearer_token_file).").Default("").StringVar(&c.bearerTokenFile)
	cmd.Flag("tls.ca-file", "CA certificate to verify the rebalancer's certificate (https).").Default("").StringVar(&c.caFile)
	cmd.Flag("tls.cert-file", "Client certificate (when the rebalancer asks for one).").Default("").StringVar(&c.certFile)
	cmd.Flag("tls.key-file", "Key of the client certificate.").Default("").StringVar(&c.keyFile)
	cmd.Flag("tls.server-name", "Server name to verify the certificate against.").Default("").StringVar(&c.serverName)
	cmd.Flag("tls.insecure-skip-verify", "Do not verify the rebalancer's certificate.").BoolVar(&c.insecure)
	cmd.Flag("timeout", "Timeout of one request.").Default("30s").DurationVar(&c.timeout)
	cmd.Flag("output", "Output format: table or json.").Short('o').Default("table").EnumVar(&c.output, "table", "json")
	cmd.Flag("author", "Who is acting (recorded with the action); default $LBPILOT_AUTHOR, else $USER.").Envar("LBPILOT_AUTHOR").Default(os.Getenv("USER")).StringVar(&c.author)

	sub := func(name, help string) *kingpin.CmdClause {
		return cmd.Command(name, help).Action(func(*kingpin.ParseContext) error { c.sub = name; return nil })
	}
	sub("status", "Servers, owners, holds, pauses and proposals.")
	p := sub("pause", "Pause the rebalancer: every backend, or one.")
	p.Flag("backend", "Pause only this backend.").StringVar(&c.backend)
	p.Flag("reason", "Why (required).").Required().StringVar(&c.reason)
	p.Flag("expires-in", "End the pause by itself after this long (e.g. 1h).").StringVar(&c.expiresIn)
	p.Flag("restores", "Let restores through while paused.").BoolVar(&c.restores)
	rs := sub("resume", "End a pause.")
	rs.Flag("backend", "Resume only this backend's pause.").StringVar(&c.backend)
	rs.Flag("reason", "Why.").StringVar(&c.reason)
	for _, a := range []string{"drain", "maint", "ready"} {
		m := sub(a, "Hold a server in "+a+" (BACKEND/SERVER); alerts no longer act on it until release.")
		m.Arg("server", "BACKEND/SERVER").Required().StringVar(&c.server)
		m.Flag("reason", "Why (required).").Required().StringVar(&c.reason)
		m.Flag("expires-in", "Hand the server back by itself after this long (e.g. 30m).").StringVar(&c.expiresIn)
		m.Flag("force", "Override the guard (logged and counted).").BoolVar(&c.force)
	}
	w := sub("weight", "Hold a server at a weight 0..256 (BACKEND/SERVER WEIGHT).")
	w.Arg("server", "BACKEND/SERVER").Required().StringVar(&c.server)
	w.Arg("weight", "0..256").Required().IntVar(&c.weight)
	w.Flag("reason", "Why (required).").Required().StringVar(&c.reason)
	w.Flag("expires-in", "Hand the server back by itself after this long.").StringVar(&c.expiresIn)
	w.Flag("force", "Override the guard (weight 0 on the last usable servers).").BoolVar(&c.force)
	rl := sub("release", "Hand a held server back to lbpilot (ready again, or its configured weight).")
	rl.Arg("server", "BACKEND/SERVER").Required().StringVar(&c.server)
	rl.Flag("reason", "Why.").StringVar(&c.reason)
	for _, a := range []string{"approve", "reject"} {
		d := sub(a, strings.ToUpper(a[:1])+a[1:]+" a proposed action (its id from status).")
		d.Arg("id", "Proposal id").Required().StringVar(&c.id)
		d.Flag("reason", "Why.").StringVar(&c.reason)
	}
	h := sub("history", "The audit log, newest first.")
	h.Flag("backend", "Only this backend (and global entries).").StringVar(&c.backend)
	h.Flag("server", "Only this server.").StringVar(&c.server)
	h.Flag("since", "RFC 3339 time or a duration back from now (e.g. 1h).").StringVar(&c.since)
	h.Flag("limit", "At most this many entries.").Default("50").IntVar(&c.limit)
	return c
}

// client builds the HTTP client from the auth and TLS flags, with the
// same Prometheus HTTP client code the other roles use for theirs.
func (c *ctlRole) client() (*http.Client, error) {
	cfg := promconfig.HTTPClientConfig{
		TLSConfig: promconfig.TLSConfig{CAFile: c.caFile, CertFile: c.certFile, KeyFile: c.keyFile, ServerName: c.serverName, InsecureSkipVerify: c.insecure},
	}
	if c.username != "" || c.passwordFile != "" {
		if c.username == "" {
			return nil, fmt.Errorf("--auth.password-file needs --auth.username")
		}
		cfg.BasicAuth = &promconfig.BasicAuth{Username: c.username, PasswordFile: c.passwordFile}
	}
	if c.bearerTokenFile != "" {
		cfg.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: c.bearerTokenFile}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := promconfig.NewClientFromConfig(cfg, "lbpilot-ctl")
	if err != nil {
		return nil, err
	}
	hc.Timeout = c.timeout
	return hc, nil
}

// ctlError is an error answer of the rebalancer.
type ctlError struct {
	code  int
	msg   string
	guard string
}

func (e *ctlError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.code, http.StatusText(e.code), e.msg)
	if e.guard != "" {
		s += " (guard: " + e.guard + ")"
	}
	return s
}

func (c *ctlRole) do(ctx context.Context, hc *http.Client, method, path string, body any) ([]byte, error) {
	base := strings.TrimRight(c.url, "/")
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		tok, err := c.do(ctx, hc, http.MethodGet, "/api/v1/csrf", nil)
		if err != nil {
			return nil, err
		}
		var t struct{ Token string }
		if err := json.Unmarshal(tok, &t); err != nil {
			return nil, fmt.Errorf("CSRF token: %w", err)
		}
		req.Header.Set(rebalancer.CSRFHeader, t.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
			Guard string `json:"guard"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &ctlError{code: resp.StatusCode, msg: e.Error, guard: e.Guard}
	}
	return b, nil
}

func splitServer(s string) (string, string, error) {
	b, srv, ok := strings.Cut(s, "/")
	if !ok || b == "" || srv == "" {
		return "", "", fmt.Errorf("server %q: want BACKEND/SERVER", s)
	}
	return url.PathEscape(b), url.PathEscape(srv), nil
}

func (c *ctlRole) run(ctx context.Context, stdout, stderr io.Writer) int {
	hc, err := c.client()
	if err != nil {
		fmt.Fprintln(stderr, "lbpilot ctl:", err)
		return 2
	}
	out, err := c.call(ctx, hc)
	if err != nil {
		fmt.Fprintln(stderr, "lbpilot ctl:", err)
		if _, ok := err.(*ctlError); ok {
			return 1
		}
		return 2
	}
	if c.output == "json" {
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			fmt.Fprintln(stderr, "lbpilot ctl: answer is not JSON:", err)
			return 1
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return 0
	}
	if err := c.table(stdout, out); err != nil {
		fmt.Fprintln(stderr, "lbpilot ctl:", err)
		return 1
	}
	return 0
}

func (c *ctlRole) call(ctx context.Context, hc *http.Client) ([]byte, error) {
	needAuthor := func() error {
		if strings.TrimSpace(c.author) == "" {
			return fmt.Errorf("--author is required (or set LBPILOT_AUTHOR or USER)")
		}
		return nil
	}
	switch c.sub {
	case "status":
		return c.do(ctx, hc, http.MethodGet, "/api/v1/state", nil)
	case "history":
		q := url.Values{}
		for k, v := range map[string]string{"backend": c.backend, "server": c.server, "since": c.since} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", strconv.Itoa(c.limit))
		return c.do(ctx, hc, http.MethodGet, "/api/v1/history?"+q.Encode(), nil)
	case "pause":
		if err := needAuthor(); err != nil {
			return nil, err
		}
		return c.do(ctx, hc, http.MethodPost, "/api/v1/pause", rebalancer.PauseRequest{Backend: c.backend, Reason: c.reason, Author: c.author, ExpiresIn: c.expiresIn, Restores: c.restores})
	case "resume":
		if err := needAuthor(); err != nil {
			return nil, err
		}
		return c.do(ctx, hc, http.MethodPost, "/api/v1/resume", rebalancer.ResumeRequest{Backend: c.backend, Reason: c.reason, Author: c.author})
	case "drain", "maint", "ready", "weight", "release":
		if err := needAuthor(); err != nil {
			return nil, err
		}
		b, s, err := splitServer(c.server)
		if err != nil {
			return nil, err
		}
		req := rebalancer.ManualRequest{Reason: c.reason, Author: c.author, ExpiresIn: c.expiresIn, Force: c.force}
		if c.sub == "weight" {
			w := c.weight
			req.Weight = &w
		}
		return c.do(ctx, hc, http.MethodPost, "/api/v1/servers/"+b+"/"+s+"/"+c.sub, req)
	case "approve", "reject":
		if err := needAuthor(); err != nil {
			return nil, err
		}
		return c.do(ctx, hc, http.MethodPost, "/api/v1/proposals/"+url.PathEscape(c.id)+"/"+c.sub, rebalancer.DecisionRequest{Author: c.author, Reason: c.reason})
	}
	return nil, fmt.Errorf("no command given: try lbpilot ctl --help")
}

// table prints an answer for people.
func (c *ctlRole) table(w io.Writer, b []byte) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	switch c.sub {
	case "status":
		var v rebalancer.StateView
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		fmt.Fprintf(tw, "paused:\t%s\n", pauseText(v.Paused.Global))
		for _, be := range sortedMapKeys(v.Paused.Backends) {
			fmt.Fprintf(tw, "paused %s:\t%s\n", be, pauseText(v.Paused.Backends[be]))
		}
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "BACKEND\tSERVER\tSOCKET\tSTATE\tWEIGHT\tOWNER\tHOLD\tALERTS\tDEFERRED")
		for _, s := range v.Servers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Backend, s.Server, s.Socket, s.HAProxyState, s.Weight, dash(s.Owner), holdText(s.Hold),
				dash(strings.Join(s.Alerts, ",")), dash(s.Deferred))
		}
		if len(v.Proposals) > 0 {
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "PROPOSAL\tBACKEND\tSERVER\tACTION\tRULE\tGUARD\tEXPIRES")
			for _, p := range v.Proposals {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Backend, p.Server, p.Action, p.Rule, p.Guard, p.Expires.Format(time.RFC3339))
			}
		}
	case "history":
		var h rebalancer.HistoryAnswer
		if err := json.Unmarshal(b, &h); err != nil {
			return err
		}
		fmt.Fprintln(tw, "TIME\tKIND\tSERVER\tACTION\tACTOR\tRESULT\tREASON\tDETAIL")
		for _, e := range h.Entries {
			srv := e.Backend
			if e.Server != "" {
				srv += "/" + e.Server
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Kind, dash(srv), dash(e.Action), actorText(e.Actor),
				dash(e.Result), dash(e.Reason), dash(e.Detail))
		}
	default:
		var r rebalancer.WriteResult
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		fmt.Fprintf(tw, "result:\t%s\n", r.Result)
		if s := r.Server; s != nil {
			fmt.Fprintf(tw, "server:\t%s/%s (%s) %s weight %d, owner %s, hold %s\n", s.Backend, s.Server, s.Socket, s.HAProxyState, s.Weight, dash(s.Owner), holdText(s.Hold))
		}
		if p := r.Paused; p != nil {
			fmt.Fprintf(tw, "paused:\t%s\n", pauseText(p.Global))
			for _, be := range sortedMapKeys(p.Backends) {
				fmt.Fprintf(tw, "paused %s:\t%s\n", be, pauseText(p.Backends[be]))
			}
		}
		if p := r.Proposal; p != nil {
			fmt.Fprintf(tw, "proposal:\t%s %s %s/%s (rule %s)\n", p.ID, p.Action, p.Backend, p.Server, p.Rule)
		}
	}
	return nil
}

func pauseText(p *rebalancer.Pause) string {
	if p == nil {
		return "no"
	}
	s := fmt.Sprintf("yes, by %s since %s: %s", p.Author, p.Since.Format(time.RFC3339), p.Reason)
	if !p.Expires.IsZero() {
		s += " (until " + p.Expires.Format(time.RFC3339) + ")"
	}
	if p.Restores {
		s += " [restores allowed]"
	}
	return s
}

func holdText(h *rebalancer.Hold) string {
	if h == nil {
		return "-"
	}
	s := h.Action
	if h.Weight != nil {
		s += " " + strconv.Itoa(*h.Weight)
	}
	s += " by " + h.Author
	if !h.Expires.IsZero() {
		s += " until " + h.Expires.Format(time.RFC3339)
	}
	if h.Forced {
		s += " (forced)"
	}
	return s
}

func actorText(a rebalancer.Actor) string {
	switch a.Type {
	case rebalancer.ActorAlert:
		s := "alert " + strings.Join(a.Fingerprints, ",")
		if a.Rule != "" {
			s += " (" + a.Rule + ")"
		}
		return s
	case rebalancer.ActorOperator:
		return "operator " + a.Name
	}
	return a.Type
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedMapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
