// SPDX-License-Identifier: MIT
// The properties, each proved against etcd's own history and printed as
// one line; a failure is followed by its evidence (at most a few lines
// each, the rest goes to the dump).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

const maxEvidence = 8

type verdict struct {
	what     string
	evidence []string
	count    int // how many violations in all
}

func (v *verdict) add(format string, a ...interface{}) {
	v.count++
	if len(v.evidence) < maxEvidence {
		v.evidence = append(v.evidence, fmt.Sprintf(format, a...))
	}
}

func (v *verdict) print() int {
	if v.count == 0 {
		fmt.Printf("ok   %s: %s\n", name, v.what)
		return 0
	}
	fmt.Printf("FAIL %s: %s: %d violations\n", name, v.what, v.count)
	for _, e := range v.evidence {
		fmt.Printf("       %s\n", e)
	}
	if v.count > len(v.evidence) {
		fmt.Printf("       ... and %d more\n", v.count-len(v.evidence))
	}
	return 1
}

func (r *record) check(truth []event) int {
	byRev := map[int64][]event{}
	for _, e := range truth {
		byRev[e.Rev] = append(byRev[e.Rev], e)
	}
	fmt.Printf("# %s: %s\n", name, r.delays())
	failed := 0
	failed += r.checkWrites(byRev).print()
	failed += r.checkOnce(truth).print()
	failed += r.checkWatchers(truth).print()
	failed += r.checkStale().print()
	failed += r.checkValues(truth).print()
	failed += r.checkServing().print()
	return failed
}

// Every acknowledged write is in etcd's history at its revision.
func (r *record) checkWrites(byRev map[int64][]event) *verdict {
	n := 0
	for _, w := range r.writes {
		if w.OK && (!w.Del || w.Deleted > 0) {
			n++
		}
	}
	v := &verdict{what: fmt.Sprintf("%d acknowledged writes are in etcd's history at their revisions", n)}
	for _, w := range r.writes {
		if !w.OK || w.Del && w.Deleted == 0 {
			continue
		}
		found := false
		for _, e := range byRev[w.Rev] {
			if e.Key == w.Key && e.Del == w.Del && (w.Del || e.Val == w.Val) {
				found = true
			}
		}
		if !found {
			op := "put " + w.Key + "=" + w.Val
			if w.Del {
				op = "delete " + w.Key
			}
			v.add("%s through %s acknowledged at revision %d (%s); etcd has there: %v",
				op, nodeNames[w.Node], w.Rev, w.End.Format("15:04:05.000"), byRev[w.Rev])
		}
	}
	return v
}

// No value was written twice: a write a node sent again after its outcome
// was unknown would show up here.
func (r *record) checkOnce(truth []event) *verdict {
	v := &verdict{what: "no write was applied twice"}
	seen := map[string]int64{}
	prefix := name + "/"
	for _, e := range truth {
		if e.Del || !strings.HasPrefix(e.Val, prefix) {
			continue
		}
		if rev, dup := seen[e.Val]; dup {
			v.add("value %q was put at revision %d and again at %d", e.Val, rev, e.Rev)
		}
		seen[e.Val] = e.Rev
	}
	return v
}

// Each watcher (the control on etcd too) saw exactly etcd's events of its range from its start
// revision to the closing write, in order, each once.
func (r *record) checkWatchers(truth []event) *verdict {
	var desc []string
	for _, w := range r.watchers {
		desc = append(desc, fmt.Sprintf("%s %d events", w.id, len(w.events)))
	}
	v := &verdict{what: fmt.Sprintf("%d watchers saw each event of their range once, in order, no gap (%s)",
		len(r.watchers), strings.Join(desc, ", "))}
	for _, w := range r.watchers {
		var want []event
		for _, e := range truth {
			if e.Rev >= w.from && e.Rev <= r.fence && e.Key >= w.key && e.Key < w.end {
				want = append(want, e)
			}
		}
		upto := r.fence
		if w.last < r.fence {
			v.add("%s stopped at revision %d, never reached the closing write at %d (errors: %s)",
				w.id, w.last, r.fence, strings.Join(w.errs, "; "))
			upto = w.last
		}
		got := w.events
		// Order first: revisions never go back.
		for i := 1; i < len(got); i++ {
			if got[i].Rev < got[i-1].Rev {
				v.add("%s: revision %d came after %d", w.id, got[i].Rev, got[i-1].Rev)
				break
			}
		}
		// Then each event exactly once, none missing, none invented.
		type id struct {
			rev int64
			key string
		}
		count := map[id]int{}
		for _, e := range got {
			count[id{e.Rev, e.Key}]++
		}
		wantSet := map[id]event{}
		for _, e := range want {
			if e.Rev > upto {
				break
			}
			wantSet[id{e.Rev, e.Key}] = e
			switch c := count[id{e.Rev, e.Key}]; {
			case c == 0:
				v.add("%s missed %v (last revision it saw: %d)", w.id, e, w.last)
			case c > 1:
				v.add("%s saw %v %d times", w.id, e, c)
			}
		}
		for _, e := range got {
			t, ok := wantSet[id{e.Rev, e.Key}]
			switch {
			case !ok:
				v.add("%s saw %v, which is not in etcd's history of its range [%s, %s) from %d",
					w.id, e, w.key, w.end, w.from)
			case t.Del != e.Del || t.Val != e.Val:
				v.add("%s saw %v where etcd has %v", w.id, e, t)
			}
		}
	}
	return v
}

// No linearizable read returned a revision older than a write or a read
// that completed before the read started.
func (r *record) checkStale() *verdict {
	type done struct {
		end  time.Time
		rev  int64
		what string
	}
	var dones []done
	nreads := 0
	for _, w := range r.writes {
		if w.OK {
			dones = append(dones, done{w.End, w.Rev, fmt.Sprintf("write %s=%s through %s", w.Key, w.Val, nodeNames[w.Node])})
		}
	}
	for _, g := range r.reads {
		if g.OK {
			nreads++
			dones = append(dones, done{g.End, g.Rev, fmt.Sprintf("read of %s through %s", g.Key, nodeNames[g.Node])})
		}
	}
	sort.Slice(dones, func(i, j int) bool { return dones[i].end.Before(dones[j].end) })
	// best[i]: the highest revision among dones[0..i]
	best := make([]int, len(dones))
	for i := range dones {
		best[i] = i
		if i > 0 && dones[best[i-1]].rev >= dones[i].rev {
			best[i] = best[i-1]
		}
	}
	v := &verdict{what: fmt.Sprintf("no linearizable read was stale (%d reads)", nreads)}
	for _, g := range r.reads {
		if !g.OK {
			continue
		}
		// the last done that ended strictly before g started
		i := sort.Search(len(dones), func(i int) bool { return !dones[i].end.Before(g.Start) }) - 1
		if i < 0 {
			continue
		}
		if b := dones[best[i]]; b.rev > g.Rev {
			v.add("read of %s through %s started %s answered revision %d, but the %s had completed at %s with revision %d",
				g.Key, nodeNames[g.Node], g.Start.Format("15:04:05.000"), g.Rev, b.what,
				b.end.Format("15:04:05.000"), b.rev)
		}
	}
	return v
}

// Each read's answer is etcd's value of the key at the read's revision.
func (r *record) checkValues(truth []event) *verdict {
	byKey := map[string][]event{}
	for _, e := range truth {
		byKey[e.Key] = append(byKey[e.Key], e)
	}
	v := &verdict{what: "every read answered etcd's value at its revision"}
	for _, g := range r.reads {
		if !g.OK {
			continue
		}
		// The scenario's keys are new: before its first write they are absent.
		hist := byKey[g.Key]
		i := sort.Search(len(hist), func(i int) bool { return hist[i].Rev > g.Rev }) - 1
		wantFound, wantVal, wantMod := false, "", int64(0)
		if i >= 0 && !hist[i].Del {
			wantFound, wantVal, wantMod = true, hist[i].Val, hist[i].Rev
		}
		if g.Rev > r.fence {
			continue // past the history read
		}
		if g.Found != wantFound || g.Val != wantVal || g.ModRev != wantMod {
			v.add("read of %s through %s at revision %d answered found=%v %q@%d; etcd has found=%v %q@%d",
				g.Key, nodeNames[g.Node], g.Rev, g.Found, g.Val, g.ModRev, wantFound, wantVal, wantMod)
		}
	}
	return v
}

// Both nodes serve writes and reads again once the fault was healed.
func (r *record) checkServing() *verdict {
	var w, g [2]int
	for _, x := range r.writes {
		if x.OK && x.Start.After(r.healed) {
			w[x.Node]++
		}
	}
	for _, x := range r.reads {
		if x.OK && x.Start.After(r.healed) {
			g[x.Node]++
		}
	}
	v := &verdict{what: fmt.Sprintf("both nodes serve after the fault (writes A %d, B %d; reads A %d, B %d)",
		w[0], w[1], g[0], g[1])}
	if r.healed.IsZero() {
		v.add("the fault was never reported healed")
		return v
	}
	for n := 0; n < 2; n++ {
		if w[n] == 0 || g[n] == 0 {
			var last string
			for _, x := range r.writes {
				if x.Node == n && !x.OK && x.Start.After(r.healed) {
					last = x.Err
				}
			}
			v.add("node %s: %d writes and %d reads succeeded after the heal; its last error: %s",
				nodeNames[n], w[n], g[n], last)
		}
	}
	return v
}

// delays: per node, the longest time from a write's acknowledgement to
// its event reaching a watcher of that node, and which watcher
// (information, not a check: a member stopped under a node's change feed
// holds it back).
func (r *record) delays() string {
	acked := map[string]time.Time{}
	for _, w := range r.writes {
		if w.OK && !w.Del {
			acked[w.Val] = w.End
		}
	}
	var worst [3]time.Duration
	var at [3]int64
	var who [3]string
	for _, w := range r.watchers {
		for _, e := range w.events {
			if t, ok := acked[e.Val]; ok && e.At.Sub(t) > worst[w.node] {
				worst[w.node], at[w.node], who[w.node] = e.At.Sub(t), e.Rev, w.id
			}
		}
	}
	s := "longest from a write's acknowledgement to a watcher's event:"
	for n := range worst {
		s += fmt.Sprintf(" %v (%s, revision %d)", worst[n].Round(time.Millisecond), who[n], at[n])
	}
	return s
}

// dump writes everything recorded, and etcd's history, as JSON.
func (r *record) dump(path string, truth []event) error {
	type wdump struct {
		ID       string
		Key, End string
		From     int64
		Restarts int
		Errs     []string
		Events   []event
	}
	out := struct {
		Scenario string
		Start    int64
		Fence    int64
		Healed   time.Time
		Writes   []write
		Reads    []read
		Watchers []wdump
		Truth    []event
	}{name, r.start, r.fence, r.healed, r.writes, r.reads, nil, truth}
	for _, w := range r.watchers {
		out.Watchers = append(out.Watchers, wdump{w.id, w.key, w.end, w.from, w.restarts, w.errs, w.events})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
