# A first job, so that a fresh database shows the worker at work.
if [ "$(cat "$DB/jobs.json")" = "[]" ]; then
	echo '[{"id":1,"text":"welcome to procman","status":"queued"}]' > "$DB/jobs.json"
fi
