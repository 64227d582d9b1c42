// Command web is the job board's web server: it serves the page and the
// built CSS, and a small JSON API over the job table that the release phase
// created: POST /jobs queues a job, POST /jobs/claim hands the next one to a
// worker, POST /jobs/{id}/done records its result, GET /jobs lists them.
//
// It listens on $PORT, refuses to start on a database the release phase has
// not migrated, and shuts down cleanly on SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// schema is the last migration this code needs.
const schema = "002_welcome_job"

// A job is one row of the job table.
type job struct {
	ID     int    `json:"id"`
	Text   string `json:"text"`
	Status string `json:"status"` // queued, running, done
	Result string `json:"result,omitempty"`
}

type store struct {
	mu   sync.Mutex
	path string
	jobs []job
}

func main() {
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatalf("web: %v", err)
	}
}

func run() error {
	dir := os.Getenv("VAR_DIR")
	if dir == "" {
		dir = "var"
	}
	db := filepath.Join(dir, "db")
	applied, err := os.ReadFile(filepath.Join(db, "applied"))
	if err != nil || !containsLine(string(applied), schema) {
		return fmt.Errorf("database in %s is not at %s: run the release phase (procman start without --no-release)", db, schema)
	}
	s := &store{path: filepath.Join(db, "jobs.json")}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &s.jobs); err != nil {
		return fmt.Errorf("%s: %v", s.path, err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	mux.HandleFunc("GET /app.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "public", "app.css"))
	})
	mux.HandleFunc("GET /jobs", s.list)
	mux.HandleFunc("POST /jobs", s.add)
	mux.HandleFunc("POST /jobs/claim", s.claim)
	mux.HandleFunc("POST /jobs/{id}/done", s.done)

	port := os.Getenv("PORT")
	if port == "" {
		port = "5000"
	}
	srv := &http.Server{Addr: ":" + port, Handler: logRequests(mux)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	failed := make(chan error, 1)
	go func() { failed <- srv.ListenAndServe() }()
	log.Printf("listening on :%s with %d jobs", port, len(s.jobs))
	select {
	case err := <-failed:
		return err
	case <-ctx.Done():
	}
	log.Print("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path != "/jobs/claim" { // the worker polls it: too chatty
			log.Printf("%s %s", r.Method, r.URL.Path)
		}
	})
}

func (s *store) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.jobs)
}

func (s *store) add(w http.ResponseWriter, r *http.Request) {
	text := strings.TrimSpace(r.FormValue("text"))
	if text == "" {
		http.Error(w, "text is empty", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := job{ID: len(s.jobs) + 1, Text: text, Status: "queued"}
	s.jobs = append(s.jobs, j)
	if err := s.save(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

func (s *store) claim(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.jobs {
		if s.jobs[i].Status == "queued" {
			s.jobs[i].Status = "running"
			if err := s.save(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			writeJSON(w, http.StatusOK, s.jobs[i])
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *store) done(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || id < 1 || id > len(s.jobs) {
		http.NotFound(w, r)
		return
	}
	s.jobs[id-1].Status = "done"
	s.jobs[id-1].Result = r.FormValue("result")
	if err := s.save(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, s.jobs[id-1])
}

// save writes the table whole, by renaming, so that a crash never leaves
// half a file.
func (s *store) save() error {
	data, err := json.MarshalIndent(s.jobs, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

const page = `<!doctype html>
<title>Jobs</title>
<link rel="stylesheet" href="/app.css">
<h1>Jobs</h1>
<form id="add"><input name="text" placeholder="some text to count" size="40"> <button>Queue</button></form>
<ul id="jobs"></ul>
<script>
async function refresh() {
	const jobs = await (await fetch("/jobs")).json();
	document.getElementById("jobs").innerHTML = jobs.map(j =>
		'<li class="' + j.status + '">#' + j.id + ' ' + j.status + ': ' + (j.result || '') + '</li>').join("");
}
document.getElementById("add").onsubmit = async e => {
	e.preventDefault();
	await fetch("/jobs", {method: "POST", body: new URLSearchParams(new FormData(e.target))});
	e.target.reset();
	refresh();
};
refresh();
setInterval(refresh, 1000);
</script>
`
