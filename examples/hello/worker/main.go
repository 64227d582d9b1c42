// Command worker is the example app's background process: it does a unit
// of "work" every $TICK_INTERVAL (default 1s), logs it, and stops cleanly
// between ticks on SIGTERM.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0) // procman already timestamps every line
	interval := time.Second
	if v := os.Getenv("TICK_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			log.Fatalf("TICK_INTERVAL: want a positive duration such as 1s or 500ms")
		}
		interval = d
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Printf("%s working every %s", os.Getenv("PS"), interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			log.Printf("stopping after %d ticks", n-1)
			return
		case <-t.C:
			log.Printf("tick %d", n)
		}
	}
}
