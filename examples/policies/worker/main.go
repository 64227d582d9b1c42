// Command worker processes the job board's jobs: it claims the next queued
// job from the web server ($WEB_URL), counts its words and hashes its text,
// and posts the result back. It exits 1 when the web server cannot be
// reached, and on SIGTERM finishes the job in hand, then exits 0.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type job struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

func main() {
	log.SetFlags(0)
	web := os.Getenv("WEB_URL")
	if web == "" {
		log.Fatal("worker: WEB_URL is not set")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second}
	log.Printf("taking jobs from %s", web)
	for ctx.Err() == nil {
		j, err := claim(client, web)
		if err != nil {
			log.Fatalf("worker: %v", err)
		}
		if j == nil {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		sum := sha256.Sum256([]byte(j.Text))
		result := fmt.Sprintf("%d words, sha256 %x", len(strings.Fields(j.Text)), sum[:4])
		time.Sleep(200 * time.Millisecond) // the work takes a moment
		resp, err := client.PostForm(fmt.Sprintf("%s/jobs/%d/done", web, j.ID), url.Values{"result": {result}})
		if err != nil {
			log.Fatalf("worker: %v", err)
		}
		resp.Body.Close()
		log.Printf("job %d: %s", j.ID, result)
	}
	log.Print("stopping")
}

// claim returns the next queued job, or nil when there is none.
func claim(client *http.Client, web string) (*job, error) {
	resp, err := client.Post(web+"/jobs/claim", "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusOK:
		var j job
		if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
			return nil, err
		}
		return &j, nil
	}
	return nil, fmt.Errorf("claim: %s", resp.Status)
}
