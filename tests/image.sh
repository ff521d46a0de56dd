#!/usr/bin/env bash
# The container image without a registry: `make image` (build) and
# `make image-test` (build, run, judge a review over TLS, stop).
#
#   tests/image.sh build   a static binary on the host (cargo), then
#                          Dockerfile.prebuilt FROM scratch, tagged $IMAGE
#   tests/image.sh test    build, then run `serve` in the image with a
#                          read-only root and the development certificate on
#                          a tmpfs; send README's review over TLS from the
#                          host (curl); check the verdict, the uid the process
#                          runs as and the files in the image; stop it
#
# The engine is the first of docker and podman whose daemon or runtime
# answers (`ENGINE=podman` chooses). Without one, `test` prints one skip line
# and exits 0; `build` fails.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-test}
IMAGE=${IMAGE:-ghcr.io/railiance/cnpg-guard:0.1.0}
CARGO=${CARGO:-cargo}
target_dir=${CARGO_TARGET_DIR:-target}
triple=x86_64-unknown-linux-gnu
binary=$target_dir/$triple/release/cnpg-guard

engine=""
for e in ${ENGINE:-docker podman}; do
  if command -v "$e" >/dev/null 2>&1 && "$e" info >/dev/null 2>&1; then
    engine=$e
    break
  fi
done
if [ -z "$engine" ]; then
  if [ "$mode" = test ]; then
    echo "image-test: skipped: no container engine runs here (tried: ${ENGINE:-docker podman}; each one's info fails or it is not installed)"
    exit 0
  fi
  echo "image: no container engine runs here (tried: ${ENGINE:-docker podman}; each one's info fails or it is not installed): cannot build $IMAGE" >&2
  exit 1
fi

build() {
  local start=$SECONDS
  echo "image: static binary: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target $triple"
  RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_RELEASE_STRIP=symbols \
    "$CARGO" build --release --locked --target "$triple" --bin cnpg-guard
  # A static binary has no program interpreter (no dynamic loader to ask for).
  if readelf -l "$binary" | grep -q 'Requesting program interpreter'; then
    echo "image: $binary is dynamically linked" >&2
    exit 1
  fi
  local context
  context=$(mktemp -d)
  cp "$binary" "$context/cnpg-guard"
  "$engine" build --quiet -f Dockerfile.prebuilt -t "$IMAGE" "$context" >/dev/null
  rm -rf "$context"
  echo "image: $engine built $IMAGE in $((SECONDS - start)) s, $(image_size)"
}

image_size() {
  local bytes
  bytes=$("$engine" image inspect -f '{{.Size}}' "$IMAGE")
  awk -v b="$bytes" 'BEGIN { printf "%d bytes (%.1f MB)", b, b / 1000000 }'
}

# A TCP port nothing listens on (bash's /dev/tcp connect fails).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "image-test: no free port found" >&2
  exit 1
}

fail() {
  echo "image-test: FAILED: $*" >&2
  if [ -n "${container:-}" ]; then
    echo "--- the container's log:" >&2
    "$engine" logs "$container" >&2 2>&1 || true
  fi
  exit 1
}

smoke() {
  local port admin pid uid files answer
  port=$(free_port)
  admin=$(free_port)
  work=$(mktemp -d)
  container=cnpg-guard-image-test-$$
  trap '"$engine" rm -f "$container" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

  # The image's own user (no --user), a read-only root, the development
  # certificate on a tmpfs, the host's network (no port mapping needed).
  "$engine" run -d --name "$container" --read-only --network host \
    --tmpfs /tmp:rw,size=16m,mode=1777 --security-opt no-new-privileges --cap-drop ALL \
    "$IMAGE" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    --dev-cert-dir /tmp/cnpg-guard-dev --log-format text >/dev/null
  echo "image-test: started $container: serve on 127.0.0.1:$port (admin $admin), read-only root, /tmp a tmpfs"

  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
    [ "$("$engine" inspect -f '{{.State.Running}}' "$container")" = true ] || fail "serve stopped"
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null || fail "not ready after 10 s"

  # The development CA the container wrote to its tmpfs: `cp` reads it where
  # the engine can (podman), the container's root via /proc otherwise.
  pid=$("$engine" inspect -f '{{.State.Pid}}' "$container")
  "$engine" cp "$container:/tmp/cnpg-guard-dev/ca.crt" "$work/ca.crt" >/dev/null 2>&1 ||
    cp "/proc/$pid/root/tmp/cnpg-guard-dev/ca.crt" "$work/ca.crt" 2>/dev/null ||
    fail "cannot read the development CA from the container"

  answer=$(curl -sS --max-time 10 --cacert "$work/ca.crt" -H 'Content-Type: application/json' \
    --data @tests/fixtures/reviews/database-create-denied.json \
    "https://localhost:$port/validate?timeout=10s") || fail "the review over TLS failed"
  case "$answer" in
    *'"allowed":false'*'[owner-registered] Database databases/rogue-db'*) ;;
    *) fail "unexpected answer: $answer" ;;
  esac
  echo "image-test: review over TLS (verified against the container's development CA): allowed=false, [owner-registered] Database databases/rogue-db"

  # The user the process runs as, in the container's user namespace (the
  # host's uid through the container's uid_map: the same for a rootful
  # engine, a subordinate uid's origin for rootless podman).
  uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
  uid=$(awk -v u="$uid" '$2 <= u && u < $2 + $3 { print $1 + u - $2; exit }' "/proc/$pid/uid_map")
  [ "$uid" = 65532 ] || fail "serve runs as uid '$uid', not 65532"
  [ "$("$engine" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$container")" = true ] || fail "the root is writable"
  echo "image-test: serve runs as uid $uid with a read-only root file system"

  # What the image holds: the binary and nothing a shell could use.
  # The engine adds mount points and files it manages (/etc/hosts, ...).
  files=$("$engine" export "$container" | tar -t | grep -v '/$' |
    grep -Ev '^(\./)?(etc/(hosts|hostname|resolv\.conf|passwd|group|mtab)|run/.containerenv|\.dockerenv|dev/.*|proc/.*|sys/.*)$' || true)
  [ "$files" = "usr/local/bin/cnpg-guard" ] || fail "the image holds more than the binary: $files"
  echo "image-test: the image's only file is usr/local/bin/cnpg-guard (statically linked, no shell)"

  "$engine" stop -t 20 "$container" >/dev/null
  local code
  code=$("$engine" inspect -f '{{.State.ExitCode}}' "$container")
  [ "$code" = 0 ] || fail "serve exited $code after SIGTERM"
  echo "image-test: stopped (SIGTERM, drained, exit 0)"
  echo "image-test: passed ($engine, $IMAGE, $(image_size))"
}

case $mode in
  build) build ;;
  test) build && smoke ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
