# Sourced by scripts that need a standalone emulator (sdk-test, bench-ingest, bench-part-size).
# start_emulator BIN DATA_DIR [EMULATOR OPTIONS...]
#   starts `BIN emulator --port 0 --data-dir DATA_DIR ...` in the background, waits for its banner,
#   and sets EMULATOR_PID and EMULATOR_URL and exports TENCENTCLOUD_SECRET_ID/KEY and
#   ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET from the banner.
# stop_emulator: stops it (its SIGTERM status is not this script's).
start_emulator() {
  local bin=$1 data=$2
  shift 2
  mkdir -p "$data"
  "$bin" emulator --port 0 --data-dir "$data" "$@" > "$data.banner" 2> "$data.log" &
  EMULATOR_PID=$!
  for _ in $(seq 300); do
    grep -q 'ALIBABA_CLOUD_ACCESS_KEY_SECRET=' "$data.banner" 2>/dev/null && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { echo "the emulator did not start:" >&2; cat "$data.log" >&2; return 1; }
    sleep 0.1
  done
  EMULATOR_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$data.banner")
  TENCENTCLOUD_SECRET_ID=$(sed -n 's/.*TENCENTCLOUD_SECRET_ID=//p' "$data.banner")
  TENCENTCLOUD_SECRET_KEY=$(sed -n 's/.*TENCENTCLOUD_SECRET_KEY=//p' "$data.banner")
  ALIBABA_CLOUD_ACCESS_KEY_ID=$(sed -n 's/.*ALIBABA_CLOUD_ACCESS_KEY_ID=//p' "$data.banner")
  ALIBABA_CLOUD_ACCESS_KEY_SECRET=$(sed -n 's/.*ALIBABA_CLOUD_ACCESS_KEY_SECRET=//p' "$data.banner")
  export EMULATOR_URL TENCENTCLOUD_SECRET_ID TENCENTCLOUD_SECRET_KEY ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET
  [ -n "$EMULATOR_URL" ] || { echo "no endpoint in the emulator's banner" >&2; return 1; }
}

stop_emulator() {
  if [ -n "${EMULATOR_PID:-}" ]; then
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
    EMULATOR_PID=""
  fi
}
