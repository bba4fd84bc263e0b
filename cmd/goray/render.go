package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
)

const rule = "------------------------------------------------------------"

// maxActorRows caps the actor listing.
const maxActorRows = 100

const gib, mib = 1 << 30, 1 << 20

// renderStatus prints a cluster's status for people, in the manner of
// `ray status`: nodes, resource usage (cluster-wide and per node), pending
// demands, and actors if there are any. It depends on nothing but st.
func renderStatus(w io.Writer, st *proto.ClusterStatus) {
	var b strings.Builder
	nodes := append([]proto.NodeInfo(nil), st.Nodes...)
	sort.SliceStable(nodes, func(i, j int) bool {
		a, c := nodes[i], nodes[j]
		if a.Alive != c.Alive {
			return a.Alive
		}
		if a.IsHead != c.IsHead {
			return a.IsHead
		}
		if a.Addr != c.Addr {
			return a.Addr < c.Addr
		}
		return a.NodeID.String() < c.NodeID.String()
	})

	alive := 0
	rows := [][]string{{"NODE", "ADDRESS", "ROLE", "STATE", "LABELS"}}
	for _, n := range nodes {
		state := "alive"
		if n.Alive {
			alive++
		} else {
			state = "dead"
			if n.DeathReason != "" {
				state += " (" + n.DeathReason + ")"
			}
		}
		rows = append(rows, []string{shortID(n.NodeID.String()), n.Addr, role(n.IsHead), state, fmtLabels(n.Labels)})
	}
	b.WriteString("Node status\n" + rule + "\n")
	if len(nodes) == 0 {
		b.WriteString(" (no nodes)\n")
	} else {
		fmt.Fprintf(&b, " %d alive, %d dead\n", alive, len(nodes)-alive)
		b.WriteString(table(rows, " "))
	}

	b.WriteString("\nResources\n" + rule + "\n")
	total, avail := map[string]float64{}, map[string]float64{}
	var storeUsed, storeCap int64
	for _, n := range nodes {
		if !n.Alive {
			continue
		}
		for k, v := range n.Total {
			total[k] += v
		}
		for k, v := range n.Available {
			avail[k] += v
		}
		storeUsed += n.StoreUsed
		storeCap += n.StoreCapacity
	}
	b.WriteString("Cluster usage:\n")
	usage(&b, total, avail, storeUsed, storeCap)
	for _, n := range nodes {
		if n.Alive {
			fmt.Fprintf(&b, "\nNode %s at %s (%s; %d worker processes):\n", shortID(n.NodeID.String()), n.Addr, role(n.IsHead), n.Workers)
			usage(&b, n.Total, n.Available, n.StoreUsed, n.StoreCapacity)
		}
	}

	b.WriteString("\nDemands:\n")
	demands := append([]proto.Demand(nil), st.Demands...)
	sort.SliceStable(demands, func(i, j int) bool {
		if demands[i].Infeasible != demands[j].Infeasible {
			return !demands[i].Infeasible
		}
		return fmtShape(demands[i].Resources) < fmtShape(demands[j].Resources)
	})
	if len(demands) == 0 {
		b.WriteString(" (no resource demands)\n")
	}
	for _, d := range demands {
		fmt.Fprintf(&b, " %s: %d pending tasks/actors", fmtShape(d.Resources), d.Count)
		if d.Infeasible {
			b.WriteString(" (no node can ever fit)")
		}
		b.WriteByte('\n')
	}

	if len(st.Actors) > 0 {
		actors := append([]proto.ActorInfo(nil), st.Actors...)
		sort.SliceStable(actors, func(i, j int) bool {
			if actors[i].Name != actors[j].Name {
				return actors[i].Name < actors[j].Name
			}
			return actors[i].ActorID.String() < actors[j].ActorID.String()
		})
		fmt.Fprintf(&b, "\nActors (%d)\n%s\n", len(actors), rule)
		rows := [][]string{{"ACTOR", "NAME", "CLASS", "STATE", "RESTARTS", "PID", "DEATH CAUSE"}}
		for i, a := range actors {
			if i == maxActorRows {
				break
			}
			name := a.Name
			if name == "" {
				name = "-"
			}
			pid := "-"
			if a.PID > 0 {
				pid = strconv.Itoa(a.PID)
			}
			rows = append(rows, []string{shortID(a.ActorID.String()), name, orDash(a.TypeName), actorState(a.State),
				strconv.Itoa(a.NumRestarts), pid, a.DeathCause})
		}
		b.WriteString(table(rows, " "))
		if len(actors) > maxActorRows {
			fmt.Fprintf(&b, " ... and %d more\n", len(actors)-maxActorRows)
		}
	}
	io.WriteString(w, b.String())
}

// usage writes used/total lines: CPU, GPU, memory, the object store, then
// custom resources.
func usage(b *strings.Builder, total, avail map[string]float64, storeUsed, storeCap int64) {
	used := func(k string) float64 { return total[k] - avail[k] }
	fmt.Fprintf(b, " %s/%s CPU\n", fmtQty(used(resources.CPU)), fmtQty(total[resources.CPU]))
	fmt.Fprintf(b, " %s/%s GPU\n", fmtQty(used(resources.GPU)), fmtQty(total[resources.GPU]))
	fmt.Fprintf(b, " %s memory\n", fmtBytePair(used(resources.Memory), total[resources.Memory], gib))
	unit := float64(mib)
	if storeCap >= gib {
		unit = gib
	}
	fmt.Fprintf(b, " %s object_store_memory\n", fmtBytePair(float64(storeUsed), float64(storeCap), unit))
	for _, k := range sortedKeys(total) {
		if _, std := reservedResources[k]; std || strings.HasPrefix(k, "node:") {
			continue
		}
		fmt.Fprintf(b, " %s/%s %s\n", fmtQty(used(k)), fmtQty(total[k]), k)
	}
}

// table aligns rows in columns two spaces apart; no line has trailing
// spaces.
func table(rows [][]string, indent string) string {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		line.WriteString(indent)
		for i, c := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			line.WriteString(c)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", width[i]-len(c)))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// fmtQty renders a resource quantity: 4.0, 0.5, 0.25.
func fmtQty(v float64) string {
	v = math.Round(v*1e4) / 1e4
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// fmtBytes renders a size in the largest fitting binary unit.
func fmtBytes(v float64) string {
	switch {
	case v >= gib:
		return fmt.Sprintf("%.2f GiB", v/gib)
	case v >= mib:
		return fmt.Sprintf("%.2f MiB", v/mib)
	case v >= 1<<10:
		return fmt.Sprintf("%.2f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

// fmtBytePair renders used/total in one unit (GiB or MiB).
func fmtBytePair(used, total, unit float64) string {
	name := "GiB"
	if unit == mib {
		name = "MiB"
	}
	return fmt.Sprintf("%.2f/%.2f %s", used/unit, total/unit, name)
}

// fmtShape renders a demand's resources: {CPU: 1, GPU: 0.5, memory: 2.00 GiB}.
func fmtShape(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		v := strconv.FormatFloat(math.Round(m[k]*1e4)/1e4, 'f', -1, 64)
		if k == resources.Memory || k == resources.ObjectStoreMemory {
			v = fmtBytes(m[k])
		}
		parts = append(parts, k+": "+v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func fmtLabels(l map[string]string) string {
	parts := make([]string, 0, len(l))
	for _, k := range sortedKeys(l) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

func role(head bool) string {
	if head {
		return "head"
	}
	return "worker"
}

func actorState(s uint8) string {
	switch s {
	case proto.ActorPending:
		return "PENDING_CREATION"
	case proto.ActorAlive:
		return "ALIVE"
	case proto.ActorRestarting:
		return "RESTARTING"
	case proto.ActorDead:
		return "DEAD"
	}
	return fmt.Sprintf("UNKNOWN(%d)", s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortID is the first 12 characters of a hex ID, as shown to people.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
