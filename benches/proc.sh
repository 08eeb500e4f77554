# What the benchmark scripts read of a process in /proc; sourced by
# benches/load.sh and benches/peers.sh.

# cpu_ticks PID: utime + stime, in clock ticks (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() {
  local stat rest
  read -r stat <"/proc/$1/stat"
  rest=${stat##*) }          # the command name may hold spaces; skip past it
  # shellcheck disable=SC2086
  set -- $rest              # $1 is field 3 (state), so utime is ${12}, stime ${13}
  echo $(( ${12} + ${13} ))
}

# status_kb PID FIELD: a field of /proc/PID/status in KiB (VmRSS, RssAnon, ...).
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
