package hoststats

import "testing"

func TestParseProcStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    uint64
		wantErr bool
	}{
		{"busy excludes idle, iowait and guest",
			"cpu  100 5 50 9000 30 2 3 4 7 1\ncpu0 50 2 25 4500 15 1 1 2 3 0\nintr 1\n",
			(100 + 5 + 50 + 2 + 3 + 4) * 10_000_000, false},
		{"old kernels with fewer fields", "cpu 1 2 3 4\n", (1 + 2 + 3) * 10_000_000, false},
		{"no cpu line", "intr 1 2\n", 0, true},
		{"garbage", "cpu a b c d e\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseProcStatCPU([]byte(tt.data))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: got %d, %v; want %d, err %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseMeminfoWorkingSet(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    uint64
		wantErr bool
	}{
		{"total minus available", "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n", 600 * 1024, false},
		{"available missing", "MemTotal: 1000 kB\nMemFree: 100 kB\n", 0, true},
		{"available above total", "MemTotal: 10 kB\nMemAvailable: 20 kB\n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseMeminfoWorkingSet([]byte(tt.data))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: got %d, %v; want %d, err %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseStatmRSS(t *testing.T) {
	if got, err := parseStatmRSS([]byte("5000 1200 300 10 0 900 0\n"), 4096); err != nil || got != 1200*4096 {
		t.Errorf("got %d, %v", got, err)
	}
	if _, err := parseStatmRSS([]byte("5000"), 4096); err == nil {
		t.Error("short statm accepted")
	}
}
