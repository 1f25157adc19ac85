package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Reconcile runs one cycle: optionally refresh alerts from Alertmanager,
// then bring every socket in line with the alerts in force, and write the
// state file. It returns an error when a socket could not be reached, a
// change failed or the state could not be written; the next cycle retries.
func (r *Rebalancer) Reconcile(ctx context.Context, refresh bool) error {
	return r.reconcile(ctx, refresh, true)
}

// reconcile is one cycle. Everything that must be on disk before HAProxy
// changes is written inside it; what is left at the end — confirmations,
// reload marks, releases, alerts from the API — can always be derived
// again from HAProxy and Alertmanager after a crash, so the loop may write
// it a moment later (syncAtEnd false) instead of delaying the next
// webhook behind one more fsync.
func (r *Rebalancer) reconcile(ctx context.Context, refresh, syncAtEnd bool) error {
	r.cycleMu.Lock()
	defer r.cycleMu.Unlock()
	start := time.Now()
	now := r.now()
	ok := true
	var cycleErrs []error
	if refresh && r.am != nil {
		if err := r.refresh(ctx, now); err != nil {
			ok = false
			cycleErrs = append(cycleErrs, err)
		}
	}
	var alerts []*AlertRecord
	inForce := map[string]bool{}
	var wake time.Time
	retention := r.cfg.Rebalancer.AlertRetention
	r.store.Update(func(st *State) {
		st.gc(now, retention)
		for _, a := range st.Alerts {
			if a.inForce(now) {
				alerts = append(alerts, a.clone())
				inForce[a.incarnation()] = true
			}
			if a.Status == StatusResolved && now.Before(a.HoldUntil) && (wake.IsZero() || a.HoldUntil.Before(wake)) {
				wake = a.HoldUntil
			}
		}
	})
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].Fingerprint < alerts[j].Fingerprint })
	r.expireOperator(now, inForce)
	op := r.operatorSnapshot()
	if t := op.nextExpiry(now); !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
		wake = t
	}

	var wg sync.WaitGroup
	errs := make([]error, len(r.sockets))
	wakes := make([]time.Time, len(r.sockets))
	for i, s := range r.sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wakes[i], errs[i] = r.reconcileSocket(ctx, s, alerts, inForce, op, now)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			ok = false
			cycleErrs = append(cycleErrs, err)
		}
		if w := wakes[i]; !w.IsZero() && (wake.IsZero() || w.Before(wake)) {
			wake = w
		}
	}
	if ok {
		r.forgetExpiredHolds(now)
	}
	if syncAtEnd {
		if err := r.flush(); err != nil {
			ok = false
			cycleErrs = append(cycleErrs, err)
		}
	}
	r.viewMu.Lock()
	r.lastCycle, r.lastOK, r.nextWake = now, ok, wake
	r.viewMu.Unlock()
	r.m.reconcileTime.SetToCurrentTime()
	r.m.reconcileDur.Observe(time.Since(start).Seconds())
	if ok {
		r.m.reconcileOK.Set(1)
		return nil
	}
	r.m.reconcileOK.Set(0)
	return errors.Join(cycleErrs...)
}

// flush writes what the state holds beyond the last write.
func (r *Rebalancer) flush() error {
	if err := r.store.SyncAll(); err != nil {
		r.m.stateWriteFails.Inc()
		level.Error(r.logger).Log("msg", "Writing the state file failed", "file", r.store.Path(), "err", err)
		return err
	}
	return nil
}

// reconcileSocket brings one socket in line. It returns when it wants to
// run again (a hold expiring) and whether it failed.
func (r *Rebalancer) reconcileSocket(ctx context.Context, s Socket, alerts []*AlertRecord, inForce map[string]bool, op *OperatorState, now time.Time) (time.Time, error) {
	name := s.Name()
	logger := r.logger
	info, err := s.ShowInfo(ctx)
	var ss *haproxyapi.ServersState
	if err == nil {
		ss, err = s.ShowServersState(ctx)
	}
	if err != nil {
		r.socketDown(name, err)
		return time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	pid, uptime, markOK := processMark(info)
	var reloaded bool
	owned := map[haproxyapi.ServerRef]*Ownership{}
	released := map[string]*Release{}
	r.store.View(func(st *State) {
		if m := st.Sockets[name]; m != nil && markOK {
			reloaded = m.Pid != pid || uptime < m.Uptime
		}
		for _, o := range st.Owned {
			if o.Socket == name {
				owned[o.ref()] = o.clone()
			}
		}
		for k, rel := range st.Released {
			if rel.Socket == name {
				released[k] = rel.clone()
			}
		}
	})
	if reloaded {
		r.m.reloads.WithLabelValues(name).Inc()
		level.Info(logger).Log("msg", "HAProxy reloaded or restarted; its runtime changes are gone, re-applying", "socket", name, "pid", pid, "uptime_sec", uptime)
	}

	// Operator holds first, so that the guard below counts what they take.
	holds := op.holdsSnapshot()
	mg := r.newMaintGate(s, now)
	rb, holdErr := r.enforceHolds(ctx, s, indexServers(ss), holds, mg, now)
	if rb != nil {
		ss = rb
	}
	ix := indexServers(ss)
	r.viewMu.Lock()
	r.servers[name] = ix
	r.viewMu.Unlock()
	desires, unresolved := Plan(r.rules, alerts, ix)
	dropHeld(desires, owned, released, holds)
	alertsBy := map[haproxyapi.ServerRef][]string{}
	for ref, d := range desires {
		for _, w := range append(append([]Want(nil), d.Admin...), d.Weight...) {
			alertsBy[ref] = append(alertsBy[ref], w.Fingerprint)
		}
	}
	seen := map[string]bool{}
	for _, u := range unresolved {
		if r.once(name, seen, "unresolved", u.Incarnation, u.Reason) {
			r.m.alertsIgnored.WithLabelValues(u.Reason).Inc()
			level.Info(logger).Log("msg", "Alert resolves to no server on this socket", "socket", name, "fingerprint", u.Fingerprint, "rule", u.Rule, "reason", u.Reason, "detail", u.Detail)
		}
	}
	dec := decide(decideInput{
		Socket: name, Servers: ix, Reloaded: reloaded, Desires: desires, Owned: owned, Released: released,
		InForce: inForce, Guard: &r.cfg.Guard, MinHold: r.cfg.Rebalancer.MinHold, Now: now,
	})
	r.graceful(ctx, mg, dec, ix)
	r.sessionCap(ctx, s, dec, ix, reloaded, now)
	r.gate(name, dec, op, now)
	r.logNotes(name, seen, dec.Notes)
	for _, df := range dec.Deferred {
		if guardReason(df.Reason) {
			r.m.deferred.Inc()
		}
		if r.once(name, seen, "deferred", df.Server, df.Facet, df.Action, df.Reason) {
			msg := "Action deferred by the guard; retried every reconcile"
			if !guardReason(df.Reason) {
				msg = "Action held back (" + df.Reason + "); retried every reconcile"
			}
			level.Warn(logger).Log("msg", msg, "socket", name, "backend", df.Ref.Backend, "server", df.Ref.Server,
				"action", df.Action, "reason", df.Reason, "detail", df.Detail, "alerts", strings.Join(df.Alerts, ","))
			r.history(HistoryEntry{Kind: HistDeferred, Backend: df.Ref.Backend, Server: df.Ref.Server, Action: df.Action, Actor: alertActor(df.Alerts, ""),
				Reason: df.Reason, Detail: df.Detail + " (" + name + ")"})
		}
	}
	r.viewMu.Lock()
	r.reported[name] = seen
	st := r.sockState[name]
	st.Up, st.Error, st.Pid, st.SeenAt, st.Deferred = true, "", pid, now, dec.Deferred
	st.servers, st.alerts = ss, alertsBy
	r.viewMu.Unlock()
	r.m.socketUp.WithLabelValues(name).Set(1)

	r.publishProgress(mg)
	if !mg.wake.IsZero() {
		dec.wake(mg.wake)
	}
	// What the stepped servers' ownership was before this cycle's intent,
	// to take the intent back if it cannot be written.
	before := map[haproxyapi.ServerRef]*Ownership{}
	for _, stp := range dec.Steps {
		if o := dec.Owned[stp.Ref]; o != nil {
			before[stp.Ref] = o.clone()
		}
	}
	markSteps(dec.Owned, name, dec.Steps)
	seq := r.commit(name, dec, markOK, pid, uptime, now)
	if len(dec.Steps) == 0 {
		return dec.NextWake, holdErr
	}
	// The intent (pending / restoring) must be on disk before HAProxy
	// changes: after a crash at any point, the next start finds a record to
	// check HAProxy against, never a change it does not know it made.
	if err := r.store.Sync(seq); err != nil {
		r.m.stateWriteFails.Inc()
		// Nothing was sent: the state (and /api/v1/state) must not show
		// an intent as pending that was never attempted.
		r.store.Update(func(st *State) {
			for _, stp := range dec.Steps {
				if o := before[stp.Ref]; o != nil {
					st.Owned[ownKey(name, stp.Ref)] = o.clone()
				} else {
					delete(st.Owned, ownKey(name, stp.Ref))
				}
			}
		})
		level.Error(logger).Log("msg", "State file not writable; not changing HAProxy (retried next cycle)", "socket", name, "file", r.store.Path(), "steps", len(dec.Steps), "err", err)
		return dec.NextWake, err
	}
	cmds := make([]haproxyapi.Command, len(dec.Steps))
	planned := make([]HistoryEntry, len(dec.Steps))
	for i, st := range dec.Steps {
		cmds[i] = st.Cmd
		planned[i] = stepEntry(name, st, "")
		planned[i].Kind = HistPlanned
	}
	r.history(planned...)
	results, applyErr := s.Apply(ctx, cmds)
	readback, rbErr := s.ShowServersState(ctx)
	var rbIx *serverIndex
	if rbErr == nil {
		rbIx = indexServers(readback)
		r.viewMu.Lock()
		r.sockState[name].servers = readback
		r.viewMu.Unlock()
	}
	failed := applyErr != nil
	outcomes := make([]string, len(dec.Steps))
	stepErrs := make([]error, len(dec.Steps))
	for i, stp := range dec.Steps {
		var cerr error
		if i < len(results) {
			cerr = results[i].Err
		} else if applyErr != nil {
			cerr = applyErr
		}
		stepErrs[i] = cerr
		switch {
		case cerr != nil:
			outcomes[i] = ResultError
			failed = true
		case rbIx == nil:
			outcomes[i] = ResultSuccess // acknowledged by HAProxy; confirmed by the next read-back
		case verify(stp, rbIx):
			outcomes[i] = ResultSuccess
		default:
			outcomes[i] = ResultMismatch
			failed = true
		}
		if r.dryRun && outcomes[i] == ResultSuccess {
			outcomes[i] = ResultDryRun
		}
	}
	r.store.Update(func(st *State) {
		for i, stp := range dec.Steps {
			o := st.Owned[ownKey(name, stp.Ref)]
			if o == nil {
				continue
			}
			finish(o, stp, outcomes[i], stepErrs[i], rbIx != nil, now)
			if o.empty() {
				delete(st.Owned, ownKey(name, stp.Ref))
			}
		}
	})
	hist := make([]HistoryEntry, 0, len(dec.Steps))
	for i, stp := range dec.Steps {
		hist = append(hist, stepEntry(name, stp, outcomes[i]))
	}
	r.history(hist...)
	for i, stp := range dec.Steps {
		r.m.actions.WithLabelValues(stp.Action, outcomes[i]).Inc()
		kv := []any{"msg", "Rebalancer action", "socket", name, "backend", stp.Ref.Backend, "server", stp.Ref.Server, "facet", stp.Facet,
			"action", stp.Action, "from", stp.From, "to", stp.To, "result", outcomes[i], "alerts", strings.Join(stp.Alerts, ","), "rules", strings.Join(stp.Rules, ","),
			"command", stp.Cmd.String()}
		switch {
		case stepErrs[i] != nil && ctx.Err() != nil:
			kv[1] = "Rebalancer action interrupted by shutdown: HAProxy may or may not have taken it; the state file keeps it pending and the next start checks HAProxy and completes it"
			level.Warn(logger).Log(kv...)
		case stepErrs[i] != nil:
			level.Error(logger).Log(append(kv, "err", stepErrs[i])...)
		case outcomes[i] == ResultMismatch:
			level.Error(logger).Log(append(kv, "err", "HAProxy does not show the state just set (an agent-check or another client overrode it?)")...)
		default:
			level.Info(logger).Log(kv...)
		}
	}
	switch {
	case rbErr != nil && ctx.Err() != nil:
		level.Info(logger).Log("msg", "Read-back after applying skipped: shutting down; the next start verifies", "socket", name)
	case rbErr != nil:
		level.Warn(logger).Log("msg", "Read-back after applying failed; the next cycle verifies", "socket", name, "err", rbErr)
	}
	if failed {
		return dec.NextWake, fmt.Errorf("%s: some changes failed", name)
	}
	return dec.NextWake, holdErr
}

// commit replaces this socket's ownership and releases with the decision's
// and records the HAProxy process seen, in one state change.
func (r *Rebalancer) commit(name string, dec *decision, markOK bool, pid int, uptime int64, now time.Time) uint64 {
	return r.store.Update(func(st *State) {
		for k, o := range st.Owned {
			if o.Socket == name {
				delete(st.Owned, k)
			}
		}
		for ref, o := range dec.Owned {
			if !o.empty() {
				st.Owned[ownKey(name, ref)] = o.clone()
			}
		}
		for k, rel := range st.Released {
			if rel.Socket == name {
				delete(st.Released, k)
			}
		}
		for k, rel := range dec.Released {
			st.Released[k] = rel.clone()
		}
		if markOK {
			st.Sockets[name] = &SocketMark{Pid: pid, Uptime: uptime, SeenAt: now}
		}
	})
}

// verify checks a step against the read-back.
func verify(s Step, ix *serverIndex) bool {
	srv, ok := ix.byRef[s.Ref]
	if !ok {
		return false
	}
	switch s.Facet {
	case FacetAdmin:
		return forcedState(srv.Admin) == s.admin
	case FacetCap:
		return true // show servers state has no maxconn: the next cycle's show stat confirms it
	}
	return srv.UWeight == s.weight
}

// finish updates ownership after a step was sent. A refused command means
// nothing changed: the ownership goes back to what it was. A transport
// error or a mismatch leaves it pending/restoring: the next cycle compares
// it with HAProxy again.
func finish(o *Ownership, s Step, outcome string, err error, verified bool, now time.Time) {
	var ce *haproxyapi.CommandError
	refused := errors.As(err, &ce)
	switch s.Facet {
	case FacetAdmin:
		a := o.Admin
		if a == nil {
			return
		}
		switch {
		case refused:
			switch s.Kind {
			case StepApply:
				o.Admin = nil
			case StepChange:
				a.State, a.Phase = a.Prev, PhaseApplied
			case StepRestore:
				a.Phase = PhaseApplied
			}
		case outcome == ResultSuccess || outcome == ResultDryRun:
			if !verified {
				return
			}
			if s.Kind == StepRestore {
				o.Admin = nil
				return
			}
			a.Phase = PhaseApplied
			if a.Since.IsZero() {
				a.Since = now
			}
		}
	case FacetWeight:
		w := o.Weight
		if w == nil {
			return
		}
		switch {
		case refused:
			switch s.Kind {
			case StepApply:
				o.Weight = nil
			case StepChange:
				if w.Before != nil {
					w.Set, w.Percent = w.Before.Set, w.Before.Percent
				}
				w.Phase, w.Before = PhaseApplied, nil
			case StepRestore:
				w.Phase = PhaseApplied
			}
		case outcome == ResultSuccess || outcome == ResultDryRun:
			if !verified {
				return
			}
			if s.Kind == StepRestore {
				o.Weight = nil
				return
			}
			w.Phase, w.Before = PhaseApplied, nil
			if w.Since.IsZero() {
				w.Since = now
			}
		}
	case FacetCap:
		// Confirmed (or found missing) by the next cycle's show stat.
		if c := o.Cap; c != nil && refused {
			switch s.Kind {
			case StepApply:
				o.Cap = nil
			case StepRestore:
				c.Phase = PhaseApplied
			}
		}
	}
}

func (r *Rebalancer) socketDown(name string, err error) {
	if errors.Is(err, context.Canceled) {
		// Shutting down mid-cycle: the socket is fine, the cycle was cut.
		level.Info(r.logger).Log("msg", "Reconcile cycle stopped by shutdown", "socket", name)
		return
	}
	r.m.socketUp.WithLabelValues(name).Set(0)
	r.viewMu.Lock()
	st := r.sockState[name]
	wasUp := st.Up || st.SeenAt.IsZero()
	st.Up, st.Error = false, err.Error()
	delete(r.servers, name)
	r.viewMu.Unlock()
	if wasUp {
		level.Error(r.logger).Log("msg", "HAProxy socket unreachable; intent is kept and applied when it answers again", "socket", name, "err", err)
	} else {
		level.Debug(r.logger).Log("msg", "HAProxy socket still unreachable", "socket", name, "err", err)
	}
}

// once reports whether a condition is new since the previous cycle (for
// log lines that would otherwise repeat every cycle), and marks it seen.
func (r *Rebalancer) once(socket string, seen map[string]bool, parts ...string) bool {
	k := strings.Join(parts, "\x00")
	seen[k] = true
	r.viewMu.Lock()
	defer r.viewMu.Unlock()
	return !r.reported[socket][k]
}

func (r *Rebalancer) logNotes(socket string, seen map[string]bool, notes []Note) {
	for _, n := range notes {
		kv := []any{"socket", socket, "backend", n.Ref.Backend, "server", n.Ref.Server, "facet", n.Facet, "from", n.From, "to", n.To,
			"alerts", strings.Join(n.Alerts, ","), "rules", strings.Join(n.Rules, ",")}
		if n.Detail != "" {
			kv = append(kv, "detail", n.Detail)
		}
		switch n.Kind {
		case NoteOperator:
			r.m.overrides.Inc()
			r.history(HistoryEntry{Kind: HistOperator, Backend: n.Ref.Backend, Server: n.Ref.Server, Actor: alertActor(n.Alerts, strings.Join(n.Rules, ",")),
				Result: "released", Detail: n.Detail + " (" + socket + ")"})
			level.Warn(r.logger).Log(append([]any{"msg", "Server changed outside lbpilot; released, it will not be restored"}, kv...)...)
		case NoteNotOurs:
			if r.once(socket, seen, n.Kind, n.Ref.String(), n.Facet, strings.Join(n.Alerts, ",")) {
				level.Info(r.logger).Log(append([]any{"msg", "Server already changed by someone else; not taking it over"}, kv...)...)
			}
		case NoteRefused:
			if r.once(socket, seen, n.Kind, n.Ref.String(), strings.Join(n.Alerts, ",")) {
				r.m.actions.WithLabelValues(ActWeight, ResultRefused).Inc()
				level.Warn(r.logger).Log(append([]any{"msg", "Weight action refused: agent-check enabled"}, kv...)...)
			}
		case NoteHeld:
			if r.once(socket, seen, n.Kind, n.Ref.String(), n.Facet) {
				level.Info(r.logger).Log(append([]any{"msg", "Restore held (min_hold)"}, kv...)...)
			}
		case NoteConfirmed:
			r.history(HistoryEntry{Kind: HistReadBack, Backend: n.Ref.Backend, Server: n.Ref.Server, Action: n.To, Actor: alertActor(n.Alerts, strings.Join(n.Rules, ",")),
				Result: "confirmed", Detail: "pending change found in effect (" + socket + ")"})
			level.Info(r.logger).Log(append([]any{"msg", "Pending change found in effect; confirmed"}, kv...)...)
		case NoteRestored:
			level.Info(r.logger).Log(append([]any{"msg", "Restore found in effect"}, kv...)...)
		case NoteReloadLost:
			level.Info(r.logger).Log(append([]any{"msg", "Change lost to a HAProxy reload; re-planning"}, kv...)...)
		case NoteNotApplied:
			level.Info(r.logger).Log(append([]any{"msg", "Pending change never took effect; re-planning"}, kv...)...)
		case NoteServerGone:
			level.Warn(r.logger).Log(append([]any{"msg", "Owned server no longer in HAProxy; forgotten"}, kv...)...)
		case NoteReleaseDone:
			level.Info(r.logger).Log(append([]any{"msg", "Alerts of a released server ended; it may be acted on again"}, kv...)...)
		case NoteRescued:
			level.Warn(r.logger).Log(append([]any{"msg", "Backend under min_ready without the rebalancer's doing; lifting its own drain"}, kv...)...)
		}
	}
}

// refresh reads Alertmanager's list of alerts (silenced and inhibited ones
// included: a silence mutes notifications, it does not end a condition).
//
//   - An alert the rebalancer never heard of (or a newer incarnation) is
//     taken once it has been firing for new_alert_delay: it was missed,
//     e.g. while the rebalancer was down.
//   - An alert the rebalancer holds as resolved but that Alertmanager has
//     updated since (updatedAt after the resolve) fires again: a false
//     resolve, e.g. Prometheus could not reach Alertmanager for a while.
//   - An alert the rebalancer holds as firing and that is missing from the
//     list is resolved as of Alertmanager's clock — but only once
//     Alertmanager has been up for startup_grace (after a restart its list
//     is empty until Prometheus re-sends), and only if nothing about it
//     arrived since the request went out.
//
// Alerts the rebalancer holds as firing and that are listed are left as
// they are: their notifications keep the order.
func (r *Rebalancer) refresh(ctx context.Context, now time.Time) error {
	fetchStart := now
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Alertmanager.Timeout)
	defer cancel()
	started, serr := r.am.Started(ctx)
	list, date, err := r.am.Alerts(ctx)
	if err != nil {
		r.m.amRefreshOK.Set(0)
		level.Warn(r.logger).Log("msg", "Refreshing alerts from Alertmanager failed; webhooks still work", "err", err)
		return err
	}
	r.m.amRefreshOK.Set(1)
	r.m.amRefreshTime.SetToCurrentTime()
	if date.IsZero() {
		date = now
	}
	date = date.UTC()
	known := map[string]*AlertRecord{}
	r.store.View(func(st *State) {
		for fp, rec := range st.Alerts {
			known[fp] = &AlertRecord{Status: rec.Status, StartsAt: rec.StartsAt, ReceivedAt: rec.ReceivedAt}
		}
	})
	var obs []Observation
	listed := map[string]bool{}
	for _, a := range list {
		ta := template.Alert{Status: StatusFiring, Labels: a.Labels, StartsAt: a.StartsAt, Fingerprint: a.Fingerprint}
		o, rej := classify(r.rules, ta, SourceAPI)
		if rej != nil {
			continue
		}
		listed[o.Fingerprint] = true
		if known[o.Fingerprint] == nil && !r.resolvesToServer(o) {
			continue // names no server any socket has: not stored (as from a webhook)
		}
		o.At = a.UpdatedAt.UTC()
		if o.At.IsZero() || o.At.After(date) {
			o.At = date
		}
		rec := known[o.Fingerprint]
		switch {
		case rec == nil || o.StartsAt.After(rec.StartsAt):
			if date.Sub(o.StartsAt) < r.cfg.Alertmanager.NewAlertDelay {
				continue // Alertmanager's own notification comes first
			}
			o.At = o.StartsAt // exactly what its firing notification would have said
		case rec.Status == StatusFiring:
			continue
		}
		obs = append(obs, o)
	}
	grace := r.cfg.Alertmanager.StartupGrace
	switch {
	case serr != nil:
		level.Warn(r.logger).Log("msg", "Alertmanager start time unknown; not treating absent alerts as resolved", "err", serr)
	case date.Sub(started) < grace:
		level.Info(r.logger).Log("msg", "Alertmanager started recently; absent alerts are not taken as resolved yet", "started", started, "grace", grace)
	default:
		for fp, rec := range known {
			if rec.Status == StatusFiring && !listed[fp] && rec.ReceivedAt.Before(fetchStart) {
				obs = append(obs, Observation{Fingerprint: fp, Status: StatusResolved, StartsAt: rec.StartsAt, At: date, EndsAt: date, Source: SourceAPI})
			}
		}
	}
	r.viewMu.Lock()
	prev := r.amStarted
	r.amStarted = started
	r.viewMu.Unlock()
	if serr == nil && !prev.IsZero() && !prev.Equal(started) {
		level.Warn(r.logger).Log("msg", "Alertmanager restarted", "started", started)
	}
	res := r.store.Observe(obs, r.now(), r.cfg.MassResolve)
	r.logTransitions(res, r.cfg)
	return nil
}
