// Command otlp-receiver receives OpenTelemetry traces over OTLP/gRPC and
// appends every span as one JSON line to a file, for the end-to-end tests
// (see package test/otlpreceiver). It listens on loopback only.
//
//	otlp-receiver --listen 127.0.0.1:0 --addr-file /tmp/run/otlp.addr --out /tmp/run/spans.jsonl
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/metrics-apiserver/metrics-apiserver/test/otlpreceiver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback host:port to listen on; port 0 picks a free one")
	addrFile := flag.String("addr-file", "", "write the address listened on to this file once serving")
	outPath := flag.String("out", "", "append received spans here, one JSON object per line (required)")
	flag.Parse()
	if err := run(*listen, *addrFile, *outPath); err != nil {
		fmt.Fprintln(os.Stderr, "otlp-receiver:", err)
		os.Exit(1)
	}
}

func run(listen, addrFile, outPath string) error {
	if outPath == "" {
		return fmt.Errorf("--out is required")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen: %q is not a loopback IP address", host)
	}
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	r, err := otlpreceiver.Start(listen, otlpreceiver.Options{Out: out})
	if err != nil {
		return err
	}
	if addrFile != "" {
		// written whole, then renamed: a reader never sees half an address
		tmp := filepath.Join(filepath.Dir(addrFile), "."+filepath.Base(addrFile)+".tmp")
		if err := os.WriteFile(tmp, []byte(r.Addr()+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "otlp-receiver: listening on %s, spans to %s\n", r.Addr(), outPath)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return r.Stop()
}
