#!/usr/bin/env bash
# Join a file sent in parts and check it: every part, then the whole, against a sha256sum manifest
# whose last line names the whole file (scripts/device_prepare.sh writes one). The joined file
# appears in OUTDIR only when it is complete and verified; otherwise one line names what is wrong.
#
#   scripts/join_parts.sh MANIFEST OUTDIR      (the parts lie beside MANIFEST)
set -uo pipefail
fail() { echo "join_parts: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || { echo "usage: scripts/join_parts.sh MANIFEST OUTDIR" >&2; exit 2; }
manifest=$1 out=$2
[ -f "$manifest" ] || fail "manifest $manifest not found"
dir=$(dirname "$manifest")
whole=$(tail -n 1 "$manifest" | awk '{print $2}')
want=$(tail -n 1 "$manifest" | awk '{print $1}')
mapfile -t parts < <(head -n -1 "$manifest" | awk '{print $2}')
[ -n "$whole" ] && [ ${#parts[@]} -gt 0 ] || fail "manifest $manifest lists no parts"
for p in "${parts[@]}"; do
  [ -f "$dir/$p" ] || fail "part $dir/$p is missing (${#parts[@]} parts expected)"
done
bad=$(cd "$dir" && head -n -1 "$(basename "$manifest")" | sha256sum --check --quiet 2>/dev/null | sed -n 's/: FAILED.*//p' | head -n 1)
[ -z "$bad" ] || fail "part $dir/$bad is corrupted (SHA-256 differs from $manifest)"
mkdir -p "$out" 2>/dev/null || fail "output folder $out cannot be created"
tmp=$(mktemp "$out/.$whole.XXXXXX" 2>/dev/null) || fail "output folder $out cannot be written"
trap 'rm -f "$tmp"' EXIT
for p in "${parts[@]}"; do cat "$dir/$p"; done > "$tmp" || fail "cannot write $tmp"
got=$(sha256sum "$tmp" | awk '{print $1}')
[ "$got" = "$want" ] || fail "joined $whole has SHA-256 $got, the manifest says $want"
mv "$tmp" "$out/$whole" && trap - EXIT
echo "$out/$whole: ${#parts[@]} parts joined, SHA-256 verified"
