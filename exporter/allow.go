package exporter

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// probeAllow is a module's compiled probe_allow list plus the origins of
// its static targets, which are allowed implicitly. It decides which
// /probe targets the module may be pointed at: a module that sends
// credentials would otherwise hand them to whatever target= names.
type probeAllow struct {
	nets    []*net.IPNet
	hosts   []hostPort
	origins []*url.URL // URL entries: scheme, host, optional port and path prefix
	exact   map[string]bool
}

type hostPort struct{ host, port string } // port "" matches every port

// compileProbeAllow parses probe_allow entries: a network in CIDR form, an
// IP address, a host name or host:port, or a URL prefix
// (scheme://host[:port][/path]). Names are compared as written, never
// resolved: a DNS answer could change between the check and the request.
func compileProbeAllow(entries []string) (*probeAllow, error) {
	a := &probeAllow{exact: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			return nil, fmt.Errorf("probe_allow: empty entry")
		case strings.Contains(e, "://"):
			u, err := url.Parse(e)
			if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return nil, fmt.Errorf("probe_allow: %q: want scheme://host[:port][/path], without credentials, query or fragment", e)
			}
			u.Host = strings.ToLower(u.Host)
			a.origins = append(a.origins, u)
		case strings.Contains(e, "/"):
			_, n, err := net.ParseCIDR(e)
			if err != nil {
				return nil, fmt.Errorf("probe_allow: %q: %w", e, err)
			}
			a.nets = append(a.nets, n)
		default:
			hp := hostPort{host: e}
			if h, p, err := net.SplitHostPort(e); err == nil {
				hp = hostPort{host: h, port: p}
			}
			if strings.ContainsAny(hp.host, " @[]") || hp.host == "" {
				return nil, fmt.Errorf("probe_allow: %q: want a host, host:port, CIDR or URL prefix", e)
			}
			hp.host = strings.ToLower(hp.host)
			a.hosts = append(a.hosts, hp)
		}
	}
	return a, nil
}

// addStatic allows the origin of a static target (and the target itself,
// for addresses that are not URLs, such as a TCP runtime socket).
func (a *probeAllow) addStatic(target string) {
	a.exact[target] = true
	if u, err := url.Parse(target); err == nil && u.Host != "" && defaultPort(u.Scheme) != "" {
		a.origins = append(a.origins, &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)})
	}
}

// allows reports whether target may be probed.
func (a *probeAllow) allows(target string) bool {
	if a.exact[target] {
		return true
	}
	scheme, host, port, path, ok := splitTarget(target)
	if !ok {
		return false
	}
	for _, o := range a.origins {
		if o.Scheme != scheme || o.Hostname() != host {
			continue
		}
		if op := o.Port(); op != "" && op != port || op == "" && port != defaultPort(scheme) {
			continue
		}
		if p := strings.TrimSuffix(o.Path, "/"); p == "" || path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	for _, h := range a.hosts {
		if h.host == host && (h.port == "" || h.port == port) {
			return true
		}
	}
	if ip := net.ParseIP(host); ip != nil {
		for _, n := range a.nets {
			if n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// splitTarget takes a /probe target apart: an http(s) URL, or a
// tcp://host:port runtime socket. A unix socket path has no host.
func splitTarget(target string) (scheme, host, port, path string, ok bool) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || u.User != nil {
		return "", "", "", "", false
	}
	port = u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return u.Scheme, strings.ToLower(u.Hostname()), port, u.EscapedPath(), true
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	case "mqtt":
		return "1883"
	case "mqtts", "ssl", "tls":
		return "8883"
	}
	return ""
}

// sendsCredentials reports whether a module's requests carry secrets.
func (m *Module) sendsCredentials() bool {
	if h := m.HTTP(); h != nil && h.SendsCredentials() {
		return true
	}
	if m.Kind == "mqtt" && m.MQTT != nil {
		// CONNECT's password, or a client certificate for mqtts.
		return m.MQTT.PasswordFile != "" || m.MQTT.TLSConfig != nil && (m.MQTT.TLSConfig.CertFile != "" || m.MQTT.TLSConfig.Cert != "")
	}
	return m.Kind == "emqx" && m.EMQX != nil && m.EMQX.HasCredentials()
}

// allowTarget is the form of a target the allow list compares: an MQTT
// probe's bare host:port is its mqtt:// URL.
func (m *Module) allowTarget(target string) string {
	if m.Kind == "mqtt" && !strings.Contains(target, "://") {
		return "mqtt://" + target
	}
	return target
}

// probeAllowed decides whether /probe may point module m at target: a
// module with probe_allow, or one that sends credentials, only at the
// targets its list or its static targets allow.
func (m *Module) probeAllowed(target string) error {
	if m.probeAllow == nil || (len(m.ProbeAllow) == 0 && !m.sendsCredentials()) {
		return nil
	}
	if m.probeAllow.allows(target) || m.probeAllow.allows(m.allowTarget(target)) {
		return nil
	}
	if len(m.ProbeAllow) == 0 {
		return fmt.Errorf("this module sends credentials, and the target is neither one of its static targets nor in its probe_allow list")
	}
	return fmt.Errorf("the target is not in the module's probe_allow list (nor one of its static targets)")
}
