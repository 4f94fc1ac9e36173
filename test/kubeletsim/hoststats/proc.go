package hoststats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// userHZ is the kernel's USER_HZ, the unit of /proc/stat; it is 100 on
// every Linux architecture Go supports.
const userHZ = 100

// parseProcStatCPU returns the machine's busy CPU time in nanoseconds from
// the aggregate "cpu" line of /proc/stat: everything but idle and iowait
// (guest time is already counted in user).
func parseProcStatCPU(data []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[0] != "cpu" {
			continue
		}
		var busy uint64
		// user nice system idle iowait irq softirq steal guest guest_nice
		for i, f := range fields[1:] {
			if i == 3 || i == 4 || i >= 8 {
				continue
			}
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %w", err)
			}
			busy += v
		}
		return busy * (1e9 / userHZ), nil
	}
	return 0, errors.New("/proc/stat: no cpu line")
}

// parseMeminfoWorkingSet returns MemTotal - MemAvailable in bytes.
func parseMeminfoWorkingSet(data []byte) (uint64, error) {
	var total, avail uint64
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) == 3 && fields[2] == "kB" {
			v *= 1024
		}
		switch fields[0] {
		case "MemTotal:":
			total, haveTotal = v, true
		case "MemAvailable:":
			avail, haveAvail = v, true
		}
	}
	if !haveTotal || !haveAvail {
		return 0, errors.New("/proc/meminfo: MemTotal or MemAvailable missing")
	}
	if avail > total {
		return 0, nil
	}
	return total - avail, nil
}

// parseStatmRSS returns the resident set in bytes from /proc/<pid>/statm.
func parseStatmRSS(data []byte, pageSize int) (uint64, error) {
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0, errors.New("statm: too few fields")
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("statm: %w", err)
	}
	return pages * uint64(pageSize), nil
}
