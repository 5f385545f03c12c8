package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// handEditPrefix starts every token value the soak writes by hand, so that a
// write holding it is known to be the soak's.
const handEditPrefix = "hand-edited-"

// secretWrite is one version of a managed Secret, as the informer saw it.
type secretWrite struct {
	Time    time.Time
	Deleted bool
	// BySoak: a hand edit or deletion by the soak, not a write of the operator.
	BySoak   bool
	HasToken bool
	token    string    // in memory only; printed as a fingerprint
	Expire   time.Time // the token's expire claim; zero when it has none
	// ExpiresAtKey is the Secret's expiresAt key.
	ExpiresAtKey string
	HasKey       bool
	key          string // in memory only; printed by its id
	// KeyID is the accesskey-id annotation (issued keys).
	KeyID string
}

// episode is a stretch of time in which a live CR's managed Secret held no
// usable token: an expired one ("expired"), or none after a hand edit or
// deletion ("missing").
type episode struct {
	CR     string
	Kind   string
	Expire time.Time // expired: the token's expiry
	Since  time.Time // expired: when first seen expired; missing: the hand edit
	End    time.Time // when a good token was written (zero: never)
}

// secretState is what the monitor knows of one managed Secret.
type secretState struct {
	cr     *crInfo
	writes []secretWrite
	// lastExpire is the expiry of the newest token the operator ever wrote.
	lastExpire time.Time
	// hadToken, hadKey: the Secret (since it was last created) held the key.
	hadToken, hadKey bool
	open             *episode
	// everKey: the operator stored a key in the Secret once (issued keys are
	// checked from then on); keyOpen is the key episode going on.
	everKey bool
	keyOpen *keyEpisode
}

func (st *secretState) current() (secretWrite, bool) {
	if len(st.writes) == 0 || st.writes[len(st.writes)-1].Deleted {
		return secretWrite{}, false
	}
	return st.writes[len(st.writes)-1], true
}

// readyChange is a change of a CR's Ready condition, as the polls saw it.
type readyChange struct {
	Time   time.Time
	Status metav1.ConditionStatus
	Reason string
}

// monitor watches the managed Secrets with an informer (invariant 1 on every
// write, invariant 2 every half second) and polls the VoipbinCredentials'
// Ready conditions (and scans their status for leaks).
type monitor struct {
	j          *journal
	cs         kubernetes.Interface
	c          client.Client
	grace      time.Duration
	scanStatus func([]byte)

	mu           sync.Mutex
	secrets      map[string]*secretState
	episodes     []*episode
	ready        map[string][]readyChange
	opWrites     int // operator writes checked by invariant 1
	soakWrites   int
	observations int // (Secret, tick) pairs checked by invariant 2
	polls        int
	wg           sync.WaitGroup

	// keys returns the stand-in's accesskeys (nil: no CR issues keys).
	keys            func() []voipbintest.AccessKey
	keyEpisodes     []*keyEpisode
	keyObservations int // (Secret, tick) pairs checked by invariant 7
}

func newMonitor(j *journal, cs kubernetes.Interface, c client.Client, grace time.Duration, scanStatus func([]byte)) *monitor {
	return &monitor{j: j, cs: cs, c: c, grace: grace, scanStatus: scanStatus,
		secrets: map[string]*secretState{}, ready: map[string][]readyChange{}}
}

// watchKeys makes the half-second check also look at the issued keys, in keys.
func (m *monitor) watchKeys(keys func() []voipbintest.AccessKey) { m.keys = keys }

// start starts the informer (and waits for its first list) and the loops.
func (m *monitor) start(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(m.cs, 0, informers.WithNamespace(crNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = v1alpha1.LabelCredential }))
	inf := factory.Core().V1().Secrets().Informer()
	_, _ = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.onSecret(obj, false) },
		UpdateFunc: func(_, obj any) { m.onSecret(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			m.onSecret(obj, true)
		},
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.checkExpiryLoop(ctx) }()
	go func() { defer m.wg.Done(); m.pollLoop(ctx) }()
}

// wait waits for the loops to end (after ctx is done).
func (m *monitor) wait() { m.wg.Wait() }

// onSecret records a write and checks invariant 1: the operator never replaces
// a token with an older one, never removes the token or the accesskey, and
// writes an expiresAt that matches the token.
func (m *monitor) onSecret(obj any, deleted bool) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	cr := m.j.crOfSecret(s.Name)
	if cr == nil {
		return
	}
	now := time.Now()
	w := secretWrite{Time: now, Deleted: deleted, BySoak: deleted}
	if !deleted {
		w.token = string(s.Data[v1alpha1.SecretKeyToken])
		w.HasToken = w.token != ""
		w.Expire = tokenExpire(w.token)
		w.ExpiresAtKey = string(s.Data[v1alpha1.SecretKeyExpiresAt])
		w.key = string(s.Data[v1alpha1.SecretKeyAccessKey])
		w.HasKey = w.key != ""
		w.KeyID = s.Annotations[v1alpha1.AnnotationAccessKeyID]
		w.BySoak = strings.HasPrefix(w.token, handEditPrefix)
	}
	_, deletedAt, _ := m.j.crState(cr)
	alive := deletedAt.IsZero()

	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.secrets[s.Name]
	if st == nil {
		st = &secretState{cr: cr}
		m.secrets[s.Name] = st
	}
	st.writes = append(st.writes, w)
	if w.BySoak {
		m.soakWrites++
		if alive && st.open == nil {
			st.open = &episode{CR: cr.Name, Kind: "missing", Since: now}
			m.episodes = append(m.episodes, st.open)
		}
	} else if alive {
		m.checkWrite(st, w)
	}
	if w.HasToken && !w.BySoak && w.Expire.After(now) && st.open != nil {
		st.open.End = now
		st.open = nil
	}
	if deleted {
		st.hadToken, st.hadKey = false, false
	} else {
		st.hadToken = st.hadToken || w.HasToken
		st.hadKey = st.hadKey || w.HasKey
		st.everKey = st.everKey || (w.HasKey && !w.BySoak && alive)
	}
}

// checkWrite is invariant 1 for one write of the operator. m.mu is held.
func (m *monitor) checkWrite(st *secretState, w secretWrite) {
	name := st.cr.Name
	m.opWrites++
	switch {
	case w.HasToken && w.Expire.IsZero():
		m.j.violate(1, w.Time, name, "the operator wrote a token with no readable expire claim")
	case w.HasToken:
		if !st.lastExpire.IsZero() && w.Expire.Before(st.lastExpire) {
			m.j.violate(1, w.Time, name, "the operator replaced a token expiring at %s with an older one expiring at %s",
				m.j.rel(st.lastExpire), m.j.rel(w.Expire))
		}
		if want := w.Expire.UTC().Format(time.RFC3339); w.ExpiresAtKey != want {
			m.j.violate(1, w.Time, name, "expiresAt is %q, the token's expiry is %s", w.ExpiresAtKey, want)
		}
		if w.Expire.After(st.lastExpire) {
			st.lastExpire = w.Expire
		}
	case st.hadToken:
		m.j.violate(1, w.Time, name, "the operator removed the token from the managed Secret")
	}
	if st.hadKey && !w.HasKey {
		m.j.violate(1, w.Time, name, "the operator removed the accesskey from the managed Secret")
	}
}

// checkExpiryLoop is invariant 2, observed: every half second, a live CR's
// Secret holding a token expired more than grace ago opens an "expired"
// episode (classified at the end against the faults).
func (m *monitor) checkExpiryLoop(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		var seen []string
		m.mu.Lock()
		for _, st := range m.secrets {
			if !m.j.alive(st.cr, now) {
				continue
			}
			cur, ok := st.current()
			if !ok || !cur.HasToken || cur.Expire.IsZero() {
				continue
			}
			m.observations++
			if now.After(cur.Expire.Add(m.grace)) && st.open == nil {
				st.open = &episode{CR: st.cr.Name, Kind: "expired", Expire: cur.Expire, Since: now}
				m.episodes = append(m.episodes, st.open)
				seen = append(seen, st.cr.Name)
			}
		}
		m.mu.Unlock()
		m.checkKeys(now)
		if len(seen) > 0 {
			sort.Strings(seen)
			more := ""
			if len(seen) > 6 {
				seen, more = seen[:6], fmt.Sprintf(" and %d more", len(seen)-6)
			}
			m.j.logf("expired tokens seen (invariant 2 judges them at the end): %s%s", strings.Join(seen, ", "), more)
		}
	}
}

// pollLoop polls the VoipbinCredentials every second: Ready transitions, and
// their status for the leak scan.
func (m *monitor) pollLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		m.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll lists the CRs once and returns them.
func (m *monitor) poll(ctx context.Context) []v1alpha1.VoipbinCredential {
	list := &v1alpha1.VoipbinCredentialList{}
	if err := m.c.List(ctx, list, client.InNamespace(crNamespace)); err != nil {
		return nil
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.polls++
	// The status is scanned for leaks every fifth poll (and once at the end):
	// it changes with every login, and a leak would stay in it.
	if m.scanStatus != nil && m.polls%5 == 1 {
		if text, err := json.Marshal(list); err == nil {
			m.scanStatus(text)
		}
	}
	for i := range list.Items {
		vbc := &list.Items[i]
		c := meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil {
			continue
		}
		hist := m.ready[vbc.Name]
		if n := len(hist); n == 0 || hist[n-1].Status != c.Status || hist[n-1].Reason != c.Reason {
			m.ready[vbc.Name] = append(hist, readyChange{Time: now, Status: c.Status, Reason: c.Reason})
		}
	}
	return list.Items
}

// secretHistory returns the writes of a CR's managed Secret.
func (m *monitor) secretHistory(cr *crInfo) []secretWrite {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.secrets[cr.ManagedSecret]; st != nil {
		return append([]secretWrite(nil), st.writes...)
	}
	return nil
}

// readyHistory returns a CR's Ready transitions.
func (m *monitor) readyHistory(name string) []readyChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]readyChange(nil), m.ready[name]...)
}

// allEpisodes returns a copy of every episode.
func (m *monitor) allEpisodes() []episode {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]episode, 0, len(m.episodes))
	for _, e := range m.episodes {
		out = append(out, *e)
	}
	return out
}

// counts returns the monitor's counters for the report.
func (m *monitor) counts() (opWrites, soakWrites, observations, polls int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opWrites, m.soakWrites, m.observations, m.polls
}
