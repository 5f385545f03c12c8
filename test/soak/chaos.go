package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// runLane carries out steps in order, each at its time after start (or as soon
// as the previous one is done), until ctx ends.
func (s *soak) runLane(ctx context.Context, lane string, steps []step, start time.Time, do func(context.Context, step) action) {
	for _, st := range steps {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(st.At))):
		}
		a := do(ctx, st)
		a.Lane, a.Kind = lane, st.Kind
		if a.Time.IsZero() {
			a.Time = time.Now()
		}
		s.j.addAction(a)
	}
}

// doAPI injects one API fault at the stand-in.
func (s *soak) doAPI(ctx context.Context, st step) action {
	api := s.si.api
	a := action{Time: time.Now()}
	switch st.Kind {
	case kind5xx:
		api.InjectFault(st.Path, voipbintest.Fault{Count: st.Count, Status: st.Status})
		a.Detail = fmt.Sprintf("%s: next %d answers HTTP %d", st.Path, st.Count, st.Status)
	case kindHang:
		hang := s.o.APITimeout + time.Second
		api.InjectFault(st.Path, voipbintest.Fault{Count: st.Count, Hang: hang})
		a.Detail = fmt.Sprintf("%s: next %d hang %s (client timeout %s)", st.Path, st.Count, hang, s.o.APITimeout)
	case kindReset:
		api.InjectFault(st.Path, voipbintest.Fault{Count: st.Count, Reset: true})
		a.Detail = fmt.Sprintf("%s: next %d reset the connection", st.Path, st.Count)
	case kindGarbage:
		api.InjectFault(st.Path, voipbintest.Fault{Count: st.Count, Garbage: true})
		a.Detail = fmt.Sprintf("%s: next %d answer 200 with HTML", st.Path, st.Count)
	case kindOversized:
		api.InjectFault(st.Path, voipbintest.Fault{Count: st.Count, Oversized: true})
		a.Detail = fmt.Sprintf("%s: next %d answer 200 with %d bytes", st.Path, st.Count, voipbintest.OversizedBodyBytes)
	case kind429:
		api.InjectFault(st.Path, voipbintest.Fault{Count: st.Count, Status: http.StatusTooManyRequests,
			RetryAfter: strconv.Itoa(st.RetryAfter)})
		a.Detail = fmt.Sprintf("%s: next %d answer 429 Retry-After %ds", st.Path, st.Count, st.RetryAfter)
	case kindLostCreate:
		api.InjectFault(accessKeysPath, voipbintest.Fault{Count: st.Count, LoseAnswer: true, Method: http.MethodPost})
		a.Detail = fmt.Sprintf("%s: next %d creates take effect, their answers lost (reset)", accessKeysPath, st.Count)
	case kindDelete5xx:
		return s.deleteFaults(st, a)
	case kindOutage, kindLongOutage:
		kind := winOutage
		if st.Kind == kindLongOutage {
			kind = winLongOutage
		}
		s.si.rec.setDown(st.Path, true)
		api.SetDown(st.Path, http.StatusServiceUnavailable)
		sleep(ctx, st.Dur)
		api.SetDown(st.Path, 0)
		s.si.rec.setDown(st.Path, false)
		s.j.addWindow(window{Kind: kind, Path: st.Path, Start: a.Time, End: time.Now()})
		a.Detail = fmt.Sprintf("%s: every request answers 503 for %.1fs", st.Path, st.Dur.Seconds())
	}
	return a
}

// deleteFaults makes the next deletes of every live key of one CR with issued
// keys (drawn by st.Target among the live ones) answer st.Status: its
// previous key's revocation, its orphans' or its finalizer's deletes.
func (s *soak) deleteFaults(st step, a action) action {
	var live []*crInfo
	for _, name := range s.j.crNames() {
		if cr := s.j.cr(name); cr.Issue && s.j.alive(cr, a.Time) {
			live = append(live, cr)
		}
	}
	if len(live) == 0 {
		a.Skipped = "no CR with issued keys"
		return a
	}
	cr := live[st.Target%len(live)]
	n := 0
	for _, k := range s.si.api.AccessKeys() {
		if owner, ok := keyOwner(k.Name); ok && owner == cr.Name && k.Delete.IsZero() {
			s.si.api.InjectFault(accessKeysPath+"/"+k.ID, voipbintest.Fault{Count: st.Count, Status: st.Status})
			n++
		}
	}
	a.Detail = fmt.Sprintf("%s: next %d deletes of each of its %d live keys answer HTTP %d", cr.Name, st.Count, n, st.Status)
	return a
}

// doCluster carries out one change in the cluster.
func (s *soak) doCluster(ctx context.Context, st step) action {
	if st.Kind == kindCRCreate {
		cr := s.newCR(st.Target, false)
		err := s.createCR(ctx, cr)
		return result(action{Detail: cr.Name}, err)
	}
	cr := s.j.cr(crName(st.Target))
	if cr == nil {
		return action{Detail: crName(st.Target), Skipped: "the CR does not exist"}
	}
	if _, deleted, _ := s.j.crState(cr); !deleted.IsZero() {
		return action{Detail: cr.Name, Skipped: "the CR was deleted"}
	}
	switch st.Kind {
	case kindCareful:
		return s.passwordCareful(ctx, cr, st.Dur)
	case kindReverse:
		return s.passwordReverse(ctx, cr, st.Dur)
	case kindSecretEdit:
		return s.handEdit(ctx, cr)
	case kindSecretDelete:
		t := time.Now()
		err := s.k.c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cr.ManagedSecret, Namespace: crNamespace}})
		if apierrors.IsNotFound(err) {
			return action{Detail: cr.Name, Skipped: "no managed Secret yet"}
		}
		if err == nil {
			s.j.event(cr, t, evHandDelete, true)
		}
		return result(action{Time: t, Detail: cr.Name}, err)
	case kindCRDelete:
		t := time.Now()
		s.j.event(cr, t, evDeleted, false)
		if cr.Issue {
			err := s.k.deleteHeld(s.bgCtx, cr, &s.bg, func(at time.Time) { s.j.event(cr, at, evGone, false) })
			return result(action{Time: t, Detail: cr.Name + " (issued keys: held by its finalizer)"}, err)
		}
		return result(action{Time: t, Detail: cr.Name}, s.k.deleteCredential(ctx, cr))
	}
	return action{Skipped: "unknown kind"}
}

func result(a action, err error) action {
	if err != nil {
		a.Skipped = err.Error()
	}
	return a
}

// passwordCareful changes a password as a careful admin does: at VoIPBIN
// first, then, lag later, in the login Secret.
func (s *soak) passwordCareful(ctx context.Context, cr *crInfo, lag time.Duration) action {
	pw := s.newPassword()
	t0 := time.Now()
	s.si.api.SetPassword(cr.Username, pw)
	s.j.event(cr, t0, evStandInPassword, false)
	sleep(ctx, lag)
	// The time before the write: the operator may log in with the new password
	// before the write returns here, and that login is explained by this change.
	t1 := time.Now()
	err := s.k.setLoginPassword(ctx, cr, pw)
	if err == nil {
		s.j.setPassword(cr, pw)
		s.j.event(cr, t1, evSecretPassword, true)
	}
	s.j.addWindow(window{Kind: winCareful, CR: cr.Name, Start: t0, End: t1.Add(time.Second)})
	return result(action{Time: t0, Detail: fmt.Sprintf("%s: VoIPBIN, then the Secret %.1fs later", cr.Name, lag.Seconds())}, err)
}

// passwordReverse changes a password in the wrong order: the login Secret
// first, VoIPBIN lag later. Logins in between are refused (InvalidCredentials)
// and the operator retries at the stored token's expiry: the token may expire
// for a moment. To keep that moment short, the CR's stored token must outlive
// the lag by a few seconds; the step waits for that (at most 20 s).
func (s *soak) passwordReverse(ctx context.Context, cr *crInfo, lag time.Duration) action {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if exp := s.storedExpiry(cr); !exp.IsZero() && time.Until(exp) > lag+6*time.Second {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return action{Detail: cr.Name, Skipped: "its stored token never had enough time left"}
		}
		sleep(ctx, 250*time.Millisecond)
	}
	pw := s.newPassword()
	t0 := time.Now()
	if err := s.k.setLoginPassword(ctx, cr, pw); err != nil {
		return result(action{Detail: cr.Name}, err)
	}
	s.j.setPassword(cr, pw)
	s.j.event(cr, t0, evSecretPassword, true)
	sleep(ctx, lag)
	s.si.api.SetPassword(cr.Username, pw)
	t1 := time.Now()
	s.j.event(cr, t1, evStandInPassword, false)
	s.j.addWindow(window{Kind: winReverse, CR: cr.Name, Start: t0, End: t1})
	return action{Time: t0, Detail: fmt.Sprintf("%s: the Secret, then VoIPBIN %.1fs later (REVERSE order)", cr.Name, lag.Seconds())}
}

// storedExpiry returns the expiry of the token cr's managed Secret holds now.
func (s *soak) storedExpiry(cr *crInfo) time.Time {
	h := s.mon.secretHistory(cr)
	if len(h) == 0 || h[len(h)-1].Deleted {
		return time.Time{}
	}
	return h[len(h)-1].Expire
}

// handEdit replaces the token of cr's managed Secret by hand.
func (s *soak) handEdit(ctx context.Context, cr *crInfo) action {
	s.edits++
	junk := handEditPrefix + strconv.Itoa(s.edits)
	t := time.Now()
	wrote := false
	err := s.k.updateSecret(ctx, cr.ManagedSecret, func(sec *corev1.Secret) bool {
		if len(sec.Data["token"]) == 0 {
			return false
		}
		sec.Data["token"] = []byte(junk)
		wrote = true
		return true
	})
	switch {
	case apierrors.IsNotFound(err) || (err == nil && !wrote):
		return action{Detail: cr.Name, Skipped: "no token stored yet"}
	case err == nil:
		s.j.event(cr, t, evHandEdit, true)
	}
	return result(action{Time: t, Detail: cr.Name}, err)
}

// doProcess carries out one manager action: a hand-over (graceful or by
// killing the leader), a restart of the standby, or a restart of both.
func (s *soak) doProcess(ctx context.Context, st step) action {
	m := s.m
	leader, err := m.waitLeader(ctx, 30*time.Second)
	if err != nil {
		return action{Skipped: err.Error()}
	}
	t := time.Now()
	stopped := s.stopFor(st.Kind, leader, t)
	if len(stopped) == 0 {
		return action{Skipped: "no standby running"}
	}
	var started []*proc
	restart := func() error {
		for _, p := range stopped {
			np, err := m.start(p.slot)
			if err != nil {
				return err
			}
			started = append(started, np)
		}
		return nil
	}
	if st.Kind == kindRestartAll {
		// Nobody leads until one of the new runs takes the lease.
		if err := restart(); err != nil {
			return result(action{Time: t}, err)
		}
	}
	newLeader, err := m.waitLeader(ctx, 60*time.Second)
	if err != nil {
		return result(action{Time: t, Detail: "was " + leader.String()}, err)
	}
	took := time.Since(t)
	if st.Kind != kindRestartAll {
		if err := restart(); err != nil {
			return result(action{Time: t}, err)
		}
	}
	for _, p := range started {
		if err := m.waitMetrics(ctx, p, 30*time.Second); err != nil {
			return result(action{Time: t}, err)
		}
	}
	return action{Time: t, Detail: fmt.Sprintf("leader %s -> %s after %.1fs; stopped %v, started %v",
		leader, newLeader, took.Seconds(), stopped, started)}
}

// stopFor stops the managers a process step of kind stops, and returns them:
// the leader (SIGTERM for a graceful hand-over, SIGKILL for a crash), the
// standby, or both.
func (s *soak) stopFor(kind string, leader *proc, t time.Time) []*proc {
	m := s.m
	switch kind {
	case kindGraceful, kindKill:
		sig := syscall.SIGTERM
		if kind == kindKill {
			sig = syscall.SIGKILL
		}
		m.leaderGone(t)
		m.stop(leader, sig)
		return []*proc{leader}
	case kindRestartStandby:
		sb := m.standby()
		if sb == nil {
			return nil
		}
		m.stop(sb, syscall.SIGTERM)
		return []*proc{sb}
	}
	m.leaderGone(t)
	var stopped []*proc
	for _, sl := range m.slots {
		if p := sl.current(); p != nil && p.running() {
			stopped = append(stopped, p)
		}
	}
	var wg sync.WaitGroup
	for _, p := range stopped {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); m.stop(p, syscall.SIGTERM) }(p)
	}
	wg.Wait()
	return stopped
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// crName is the name of the CR with index i.
func crName(i int) string { return fmt.Sprintf("soak-%03d", i) }
