# shellcheck shell=bash
# Bounded waits that fail loudly (issue 13). A readiness or polling wait whose deadline passes is a
# failure of the cell, never a silent fall-through into the next step. Sourced by the cells
# (lab/cells/*) and lab/demo; needs nothing else. (lab/lab's own waits are in common.sh:
# wait_for_line and wait_pid_timeout return non-zero at their deadline and every caller fails.)
#
#   wait_for SECONDS WHAT CMD...
#       Runs CMD every 50 ms until it succeeds. If SECONDS pass first (CMD is tried once more at the
#       deadline), the cell fails: "<cell>: timed out after SECONDS s waiting for WHAT" and the last
#       lines of every non-empty file named by WAIT_LOGS go to stderr, the message once more after
#       them (summaries show the tail of stderr), then `exit 1` (the cell's EXIT trap tears its
#       topology down). <cell> is WAIT_CELL, default the script's name. CMD runs in
#       the calling shell (a function of the cell is fine); don't call wait_for inside $(…).
#   poll_until SECONDS CMD...
#       The same poll, returning 1 at the deadline instead of failing: for callers that report
#       the timeout themselves.
#   lines_match FILE REGEX [COUNT [SKIP]]
#       A CMD for the above: FILE has at least COUNT (default 1) lines matching the extended REGEX
#       after its first SKIP lines (default 0; an ordering check: "after the line count taken when X
#       happened"). A missing FILE has no lines.
#   line_count FILE
#       The number of lines of FILE (0 if missing): the SKIP to give lines_match later.
#
# WAIT_LOGS: an array of file names or glob patterns, expanded when the wait times out.

_wait_now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }

poll_until() {
  local secs=$1
  shift
  local deadline
  deadline=$(($(_wait_now_ms) + secs * 1000))
  while :; do
    "$@" && return 0
    (($(_wait_now_ms) < deadline)) || break
    sleep 0.05
  done
  "$@" # once more at the deadline: a poll that overslept on a loaded machine still counts
}

wait_for() {
  local secs=$1 what=$2
  shift 2
  poll_until "$secs" "$@" && return 0
  local cell=${WAIT_CELL:-$(basename "$0")} pattern file logs=0
  local msg="$cell: timed out after $secs s waiting for $what"
  echo "$msg" >&2
  for pattern in "${WAIT_LOGS[@]}"; do
    while IFS= read -r file; do
      [[ -f "$file" && -s "$file" ]] || continue
      echo "---- $(basename "$file") (last 15 lines) ----" >&2
      tail -n 15 -- "$file" >&2
      logs=1
    done < <(compgen -G "$pattern" || true)
  done
  ((logs == 0)) || echo "$msg" >&2
  exit 1
}

lines_match() {
  local n
  n=$(tail -n "+$((${4:-0} + 1))" -- "$1" 2>/dev/null | grep -Ec -- "$2" || true)
  ((${n:-0} >= ${3:-1}))
}

line_count() {
  local n
  n=$(wc -l 2>/dev/null <"$1" || true)
  echo "${n:-0}"
}
