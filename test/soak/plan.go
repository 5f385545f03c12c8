package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Lanes of the chaos: faults at the API, changes in the cluster, manager
// processes. Each lane runs its plan in order, with its own random stream.
const (
	laneAPI     = "api"
	laneCluster = "cluster"
	laneProcess = "process"
)

// API fault kinds.
const (
	kind5xx        = "5xx-burst"
	kindHang       = "hang"
	kindReset      = "reset"
	kindGarbage    = "garbage"
	kindOversized  = "oversized"
	kind429        = "429"
	kindOutage     = "outage"
	kindLongOutage = "long-outage"
	// On issued accesskeys: a create that takes effect but whose answer is
	// lost (an orphan in the making), and 503s to the deletes of one CR's keys.
	kindLostCreate = "lost-create"
	kindDelete5xx  = "delete-5xx"
)

// Cluster change kinds.
const (
	kindCareful      = "password-careful"
	kindReverse      = "password-reverse"
	kindSecretEdit   = "secret-edit"
	kindSecretDelete = "secret-delete"
	kindCRCreate     = "cr-create"
	kindCRDelete     = "cr-delete"
)

// Manager process kinds.
const (
	kindGraceful       = "handover-graceful"
	kindKill           = "handover-kill"
	kindRestartStandby = "restart-standby"
	kindRestartAll     = "restart-all"
)

// weighted is a kind and how often it is drawn after the first round.
type weighted struct {
	kind   string
	weight float64
}

var (
	apiKinds = []weighted{{kind5xx, 3}, {kindHang, 2}, {kindReset, 2}, {kindGarbage, 2}, {kindOversized, 1},
		{kind429, 1}, {kindOutage, 1}, {kindLongOutage, 0.25}, {kindLostCreate, 1}, {kindDelete5xx, 1}}
	clusterKinds = []weighted{{kindCareful, 2}, {kindReverse, 1}, {kindSecretEdit, 2}, {kindSecretDelete, 2},
		{kindCRCreate, 1}, {kindCRDelete, 1}}
	processKinds = []weighted{{kindGraceful, 1}, {kindKill, 1}, {kindRestartStandby, 1}, {kindRestartAll, 1}}
)

// step is one planned action.
type step struct {
	At         time.Duration // after the start of the chaos
	Kind       string
	Path       string
	Count      int
	Status     int
	RetryAfter int           // seconds
	Dur        time.Duration // outages; the lag between the two halves of a password change
	Target     int           // CR index (cluster lane); a draw for the CR of delete-5xx
}

// plan is the whole chaos of one seed.
type plan struct {
	api, cluster, process []step
}

// drawer draws kinds: first every kind once in a random order (so that a short
// run sees each), then by weight.
type drawer struct {
	rng   *rand.Rand
	kinds []weighted
	first []string
}

func newDrawer(rng *rand.Rand, kinds []weighted, lead ...string) *drawer {
	d := &drawer{rng: rng, kinds: kinds}
	for _, k := range kinds {
		if !slices.Contains(lead, k.kind) {
			d.first = append(d.first, k.kind)
		}
	}
	rng.Shuffle(len(d.first), func(i, j int) { d.first[i], d.first[j] = d.first[j], d.first[i] })
	d.first = append(slices.Clone(lead), d.first...)
	return d
}

func (d *drawer) next() string {
	if len(d.first) > 0 {
		k := d.first[0]
		d.first = d.first[1:]
		return k
	}
	total := 0.0
	for _, k := range d.kinds {
		total += k.weight
	}
	x := d.rng.Float64() * total
	for _, k := range d.kinds {
		if x -= k.weight; x < 0 {
			return k.kind
		}
	}
	return d.kinds[len(d.kinds)-1].kind
}

// uniform returns a duration in [lo, hi).
func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Float64()*float64(hi-lo))
}

// makePlan draws the chaos of o.Seed: which fault when, with which parameters
// and on which CR. The same seed and sizes always give the same plan.
func makePlan(o Options) plan {
	var p plan
	margin := o.TokenLifetime / 3
	{
		rng := rand.New(rand.NewPCG(uint64(o.Seed), 1))
		// The long outage first: a short run then sees the recovery from it
		// while other faults go on, rather than only after the last fault.
		d := newDrawer(rng, apiKinds, kindLongOutage)
		for at := 2 * time.Second; ; {
			s := step{At: at, Kind: d.next(), Path: loginPath}
			if rng.Float64() < 0.25 && s.Kind != kindLongOutage {
				s.Path = accessKeysPath
			}
			if (s.Kind == kindLostCreate || s.Kind == kindDelete5xx) && o.IssueEvery == 0 {
				s.Kind = kind5xx // no CR issues keys: nothing would meet it
			}
			busy := time.Duration(0)
			switch s.Kind {
			case kind5xx:
				s.Count, s.Status = 1+rng.IntN(8), []int{500, 502, 503}[rng.IntN(3)]
			case kindHang:
				s.Count, busy = 1+rng.IntN(4), o.APITimeout+time.Second
			case kindReset, kindGarbage:
				s.Count = 1 + rng.IntN(5)
			case kindOversized:
				s.Count = 1 + rng.IntN(3)
			case kind429:
				s.Count, s.RetryAfter = 1+rng.IntN(2), 1+rng.IntN(3)
			case kindOutage:
				s.Dur = uniform(rng, 2*time.Second, max(margin/2, 3*time.Second))
			case kindLongOutage:
				s.Dur = margin + uniform(rng, 2*time.Second, 5*time.Second)
			case kindLostCreate:
				s.Path, s.Count = accessKeysPath, 1+rng.IntN(2)
			case kindDelete5xx:
				s.Path, s.Count, s.Status, s.Target = keyPathLabel, 1+rng.IntN(2), 503, rng.IntN(1<<20)
			}
			busy = max(busy, s.Dur)
			if at+busy > o.Duration {
				break
			}
			p.api = append(p.api, s)
			at += busy + uniform(rng, o.FaultInterval/2, o.FaultInterval*3/2)
		}
	}
	p.cluster = makeClusterPlan(o)
	{
		rng := rand.New(rand.NewPCG(uint64(o.Seed), 3))
		d := newDrawer(rng, processKinds)
		for at := o.ProcessInterval / 2; at+10*time.Second <= o.Duration; at += uniform(rng, o.ProcessInterval*7/10, o.ProcessInterval*13/10) {
			p.process = append(p.process, step{At: at, Kind: d.next()})
		}
	}
	return p
}

// makeClusterPlan draws the cluster lane: password changes, hand edits and
// deletions of managed Secrets, CRs created and deleted. A CR gets at most one
// change per cooldown, so that each change's effects can be told apart.
func makeClusterPlan(o Options) []step {
	const cooldown = 40 * time.Second
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 2))
	d := newDrawer(rng, clusterKinds)
	alive := make([]int, o.CRs)
	last := map[int]time.Duration{}
	for i := range alive {
		alive[i] = i
	}
	next := o.CRs
	var steps []step
	for at := 3 * time.Second; at+5*time.Second <= o.Duration; at += uniform(rng, o.ClusterInterval/2, o.ClusterInterval*3/2) {
		s := step{At: at, Kind: d.next(), Target: -1}
		if s.Kind == kindCRCreate {
			s.Target = next
			alive = append(alive, next)
			last[next] = at
			next++
			steps = append(steps, s)
			continue
		}
		var free []int
		for _, i := range alive {
			if t, ok := last[i]; !ok || at-t >= cooldown {
				free = append(free, i)
			}
		}
		if len(free) == 0 {
			continue
		}
		if s.Kind == kindCRDelete && rng.Float64() < 0.5 {
			// Half the deletions go to CRs with issued keys, so that their
			// finalizer runs under faults.
			var issuing []int
			for _, i := range free {
				if o.issues(i) {
					issuing = append(issuing, i)
				}
			}
			if len(issuing) > 0 {
				free = issuing
			}
		}
		s.Target = free[rng.IntN(len(free))]
		last[s.Target] = at
		switch s.Kind {
		case kindCareful:
			s.Dur = uniform(rng, 200*time.Millisecond, time.Second)
		case kindReverse:
			s.Dur = uniform(rng, time.Second, 3*time.Second)
		case kindCRDelete:
			for k, i := range alive {
				if i == s.Target {
					alive = append(alive[:k], alive[k+1:]...)
					break
				}
			}
		}
		steps = append(steps, s)
	}
	return steps
}
