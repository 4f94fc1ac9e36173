// Package hoststats reads this machine's real usage for the kubelet
// simulator's real node, the way the kubelet does: with cAdvisor's
// libcontainer handler on cgroups (v1 or v2).
//
// The node's numbers are those of the root cgroup: cumulative CPU and
// working set (usage minus inactive file pages). The simulator's own
// numbers are those of the cgroup the process runs in, per controller.
//
// Limits, all logged by New and reported by Describe:
//   - When the root cgroup cannot be read (no cgroup mounts, a sandbox hiding
//     them), the node's CPU comes from /proc/stat (busy jiffies, at 10 ms
//     resolution) and its working set from /proc/meminfo
//     (MemTotal - MemAvailable).
//   - When the process sits in the root cgroup of a controller (common in
//     sandboxes with cgroup v1 and no cgroup namespace), that cgroup is the
//     whole machine; the process's own CPU time (getrusage) or resident set
//     (/proc/self/statm) is reported for it instead.
//   - Only Linux is supported; New fails elsewhere.
package hoststats
