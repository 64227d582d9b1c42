# The job table: one JSON document the web server loads and saves.
test -e "$DB/jobs.json" || echo '[]' > "$DB/jobs.json"
