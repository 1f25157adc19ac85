package rebalancer

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Socket is one HAProxy runtime socket as the rebalancer uses it. Commands
// are haproxyapi.Command values, which only the validating constructors of
// internal/haproxyapi can build: nothing else can reach a socket.
type Socket interface {
	// Name identifies the socket in logs, metrics and the state file.
	Name() string
	ShowInfo(ctx context.Context) (haproxyapi.Info, error)
	ShowServersState(ctx context.Context) (*haproxyapi.ServersState, error)
	Apply(ctx context.Context, cmds []haproxyapi.Command) (haproxyapi.Results, error)
}

// clientSocket adapts *haproxy.Client.
type clientSocket struct{ c *haproxyapi.Client }

// NewSocket returns a Socket for an address (unix:/path, tcp://host:port).
func NewSocket(address string, opts ...haproxyapi.Option) (Socket, error) {
	c, err := haproxyapi.New(address, opts...)
	if err != nil {
		return nil, err
	}
	return clientSocket{c}, nil
}

func (s clientSocket) Name() string { return s.c.Address().String() }
func (s clientSocket) ShowInfo(ctx context.Context) (haproxyapi.Info, error) {
	return s.c.ShowInfo(ctx)
}
func (s clientSocket) ShowServersState(ctx context.Context) (*haproxyapi.ServersState, error) {
	return s.c.ShowServersState(ctx, "")
}
func (s clientSocket) Apply(ctx context.Context, cmds []haproxyapi.Command) (haproxyapi.Results, error) {
	return s.c.Apply(ctx, cmds)
}

// dryRunSocket reads from the real socket and sends nothing. What the
// rebalancer would have set is kept in an overlay that later reads show, so
// a dry run plans exactly as a real run would (guard counts included)
// without touching HAProxy.
type dryRunSocket struct {
	Socket
	mu      sync.Mutex
	admin   map[haproxyapi.ServerRef]haproxyapi.AdminState
	weight  map[haproxyapi.ServerRef]haproxyapi.Weight
	maxconn map[haproxyapi.ServerRef]int
}

func newDryRunSocket(s Socket) *dryRunSocket {
	return &dryRunSocket{Socket: s, admin: map[haproxyapi.ServerRef]haproxyapi.AdminState{}, weight: map[haproxyapi.ServerRef]haproxyapi.Weight{},
		maxconn: map[haproxyapi.ServerRef]int{}}
}

func (d *dryRunSocket) Apply(_ context.Context, cmds []haproxyapi.Command) (haproxyapi.Results, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := make(haproxyapi.Results, len(cmds))
	for i, c := range cmds {
		res[i].Command = c
		f := strings.Fields(c.String())
		switch {
		case len(f) == 5 && f[0] == "set" && f[1] == "server" && f[3] == "state":
			b, s, _ := strings.Cut(f[2], "/")
			d.admin[refOf(b, s)] = haproxyapi.AdminState(f[4])
		case len(f) == 4 && f[0] == "set" && f[1] == "weight":
			b, s, _ := strings.Cut(f[2], "/")
			w, err := haproxyapi.ParseWeight(f[3])
			if err == nil {
				d.weight[refOf(b, s)] = w
			}
		case len(f) == 5 && f[0] == "set" && f[1] == "maxconn" && f[2] == "server":
			b, s, _ := strings.Cut(f[3], "/")
			if n, err := strconv.Atoi(f[4]); err == nil {
				d.maxconn[refOf(b, s)] = n
			}
		}
	}
	return res, nil
}

func (d *dryRunSocket) ShowServersState(ctx context.Context) (*haproxyapi.ServersState, error) {
	ss, err := d.Socket.ShowServersState(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range ss.Servers {
		s := &ss.Servers[i]
		if st, ok := d.admin[s.Ref()]; ok {
			s.Admin &^= haproxyapi.AdminForcedMaint | haproxyapi.AdminForcedDrain
			switch st {
			case haproxyapi.StateDrain:
				s.Admin |= haproxyapi.AdminForcedDrain
			case haproxyapi.StateMaint:
				s.Admin |= haproxyapi.AdminForcedMaint
			}
		}
		if w, ok := d.weight[s.Ref()]; ok {
			s.UWeight = w.Value
			if w.Percent {
				s.UWeight = weightOf(s.IWeight, w.Value)
			}
		}
	}
	return ss, nil
}

// processMark reads pid and uptime from `show info`.
func processMark(info haproxyapi.Info) (pid int, uptime int64, ok bool) {
	p, err1 := strconv.Atoi(info["Pid"])
	u, err2 := strconv.ParseInt(info["Uptime_sec"], 10, 64)
	return p, u, err1 == nil && err2 == nil
}
