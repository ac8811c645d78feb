# Sourced by scripts/demo and scripts/test: one debug build in .build, shared by both (the demo's
# binary is the one the tests run), with its progress printed while it goes.
#
#   build_vodingest LABEL [swift build arguments...]
#
# SwiftPM's own "[n/m] Compiling ..." lines are thinned to one in 25 (plus errors, warnings and the
# end), each with the seconds so far, so that a first build (several minutes on 2 cores) is seen
# moving; a rebuild with nothing to do prints one line.
build_vodingest() {
  local label=$1
  shift
  local start=$SECONDS
  echo "== building $label (swift build $*; the first time takes minutes, later ones seconds)"
  set +e
  swift build "$@" 2>&1 | awk -v start="$start" '
    function now() { return systime() - boot + start }
    BEGIN { boot = systime() }
    /error:|warning: unre/ { print; fflush(); next }
    /^\[[0-9]+\/[0-9]+\]/ {
      split(substr($1, 2), nm, "/")
      if (nm[1] > 0 && nm[1] % 25 == 0) { printf "   %4ds %s\n", now(), $0; fflush() }
      next
    }
    /[Cc]omplete!/ { printf "   %4ds %s\n", now(), $0; fflush() }
  '
  local status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "== the build failed (exit $status): swift build $* shows every message" >&2
    return "$status"
  fi
  echo "== built in $((SECONDS - start)) s"
}
