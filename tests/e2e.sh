#!/usr/bin/env bash
# make e2e: against a cluster with the guard deployed, a server-side dry-run
# of deploy/examples. The good namespaces are admitted; every document of
# every bad example (bad-1.30 too where CloudNativePG 1.30's CRDs are
# installed), applied on its own, is denied by cnpg-guard with the
# rule its file is named after (a file passes only when all of its
# documents are denied, not when any one is).
#
# KUBECTL (default kubectl) is the command, e.g. KUBECTL='kubectl --context x'.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a kubectl <<<"${KUBECTL:-kubectl}"

# Documents that CloudNativePG's CRD refuses before any webhook is called, so
# the guard never sees them (its verdict on them is `cnpg-guard check`'s; the
# envtest suite pins the same list, tests/envtest/cases.rs refused_by_the_crd):
# FILE NAME TEXT-OF-THE-REFUSAL
refused_by_the_crd=(
  "owner-registered.yaml template1-db the name template1 is reserved"
)

"${kubectl[@]}" apply --dry-run=server \
  -f deploy/examples/good/namespace-databases.yaml -f deploy/examples/good/consumer-namespace.yaml

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
documents=0
# deploy/examples/bad-1.30 needs CloudNativePG 1.30's CRDs (DatabaseRole).
files=(deploy/examples/bad/*.yaml)
if "${kubectl[@]}" get crd databaseroles.postgresql.cnpg.io >/dev/null 2>&1; then
  files+=(deploy/examples/bad-1.30/*.yaml)
else
  echo "e2e: deploy/examples/bad-1.30 skipped: no DatabaseRole CRD (CloudNativePG before 1.30)"
fi
for file in "${files[@]}"; do
  base=$(basename "$file")
  rule=${base%.yaml}
  rm -f "$work"/*.yaml
  # One file per document (split at `---` lines).
  awk -v dir="$work" '/^---[[:space:]]*$/ { n++; next } { print > (dir "/" sprintf("%03d", n) ".yaml") }' "$file"
  for doc in "$work"/*.yaml; do
    grep -q '^kind:' "$doc" || continue
    documents=$((documents + 1))
    kind=$(awk '/^kind:/ { print $2; exit }' "$doc")
    name=$(awk '/^metadata:/ { m = 1; next } m && /^  name:/ { print $2; exit }' "$doc")
    what="$file $kind $name"
    out=$("${kubectl[@]}" apply --dry-run=server -f "$doc" 2>&1) && status=0 || status=$?
    refusal=""
    for r in "${refused_by_the_crd[@]}"; do
      read -r f n text <<<"$r"
      if [ "$f" = "$base" ] && [ "$n" = "$name" ]; then refusal=$text; fi
    done
    if [ -n "$refusal" ]; then
      if [ "$status" -ne 0 ] && grep -qF "$refusal" <<<"$out"; then
        echo "$what: refused by CloudNativePG's CRD before admission, as expected"
      else
        echo "$what: expected CloudNativePG's CRD to refuse it ($refusal):"
        echo "$out"
        failed=1
      fi
    elif [ "$status" -ne 0 ] && grep -qF "denied the request: [$rule]" <<<"$out"; then
      echo "$what: denied [$rule]"
    elif [ "$status" -ne 0 ] && grep -qF "denied the request: [" <<<"$out" && grep -qF "[$rule]" <<<"$out"; then
      echo "$what: denied [$rule]"
    else
      echo "$what: was not denied by cnpg-guard with [$rule]:"
      echo "$out"
      failed=1
    fi
  done
done
if [ "$failed" -ne 0 ]; then
  echo "e2e: FAILED"
  exit 1
fi
echo "e2e: every one of $documents bad documents denied (or refused by the CRD where listed)"
