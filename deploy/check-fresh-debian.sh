#!/usr/bin/env bash
# Checks that the README's two commands work on a fresh Debian 12: builds a minbase Debian 12
# (bookworm) root with debootstrap from Debian's own packages, clones this repository (its
# committed HEAD) into it, and runs `deploy/demo.sh` and then `deploy/test.sh` inside it as root
# (chroot, with /proc, /sys and /dev mounted), printing how long each step took and how it ended.
# Too slow for CI (a new root, every package downloaded, two full builds): run it by hand before
# changing what the scripts install.
#   deploy/check-fresh-debian.sh                  both commands
#   deploy/check-fresh-debian.sh demo             only deploy/demo.sh (or: test)
#   MASH_FRESH_DIR=DIR     where the root is made (default /var/tmp/mash-fresh-debian; emptied first)
#   MASH_FRESH_KEEP=1      keep the root afterwards (to look inside: chroot DIR/root)
#   MASH_FRESH_ENV="MASH_SKIP_SANITIZERS=1"   extra variables for the commands run inside
#   MASH_DEBIAN_MIRROR=URL the Debian mirror (default http://deb.debian.org/debian)
# Logs: DIR/debootstrap.log, DIR/demo.log, DIR/test.log. Exit status 0 only if every command run
# passed. Needs root, network access to the Debian mirror and the npm registry, and about 8 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
steps=(demo test)
case "${1:-}" in
  "") ;;
  demo|test) steps=("$1") ;;
  *) echo "usage: deploy/check-fresh-debian.sh [demo|test]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "check-fresh-debian: run as root (debootstrap and chroot need it)" >&2; exit 1; }
if ! command -v debootstrap > /dev/null; then
  echo "check-fresh-debian: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
fi
work=${MASH_FRESH_DIR:-/var/tmp/mash-fresh-debian}
target=$work/root
mirror=${MASH_DEBIAN_MIRROR:-http://deb.debian.org/debian}

unmount_all() {
  # Processes left inside the root (a demo killed half-way, say) would keep the mounts busy.
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$target" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  local m
  for m in dev sys proc; do
    mountpoint -q "$target/$m" && umount -R "$target/$m" || true
  done
}
finish() {
  unmount_all
  if [ "${MASH_FRESH_KEEP:-0}" != 1 ] && [ -d "$target" ]; then rm -rf --one-file-system "$target"; fi
}
[ -d "$target" ] && { unmount_all; rm -rf --one-file-system "$target"; }
mkdir -p "$target"
trap finish EXIT

summary=()
elapsed() { echo $(( $(date +%s) - $1 )); }

echo "== debootstrap --variant=minbase bookworm ($mirror) into $target"
t0=$(date +%s)
if ! debootstrap --variant=minbase bookworm "$target" "$mirror" > "$work/debootstrap.log" 2>&1; then
  tail -20 "$work/debootstrap.log"; echo "check-fresh-debian: debootstrap failed"; exit 1
fi
summary+=("debootstrap minbase: $(elapsed "$t0") s, $(du -sm --one-file-system "$target" | cut -f1) MB")
# The sources a Debian 12 installation has: the release, its updates and the security archive.
cat > "$target/etc/apt/sources.list" << EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$target/etc/resolv.conf"
# Where this machine reaches the registries through a proxy that re-signs HTTPS (its CA in
# /usr/local/share/ca-certificates, NODE_EXTRA_CA_CERTS set), the root must trust that CA too:
# the ca-certificates package adds these files when it is installed. On the open internet there
# are none, and nothing is copied.
extra_ca=0
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  mkdir -p "$target/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$target/usr/local/share/ca-certificates/"
  extra_ca=$(ls /usr/local/share/ca-certificates/*.crt | wc -l)
  echo "   copied this machine's $extra_ca local CA certificate(s) (a proxy's) into the root"
fi
ca_env=()
[ -n "${NODE_EXTRA_CA_CERTS:-}" ] && ca_env=(NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS")
git clone --quiet "$repo" "$target/root/mash-exchange"
commit=$(git -C "$target/root/mash-exchange" rev-parse --short HEAD)
echo "   cloned $commit (committed work only)"
[ -z "$(git -C "$repo" status --porcelain)" ] || echo "   note: this checkout has uncommitted changes; they are not in the clone"

mount -t proc proc "$target/proc"
mount --rbind /sys "$target/sys"; mount --make-rslave "$target/sys"
mount --rbind /dev "$target/dev"; mount --make-rslave "$target/dev"

status=0
for step in "${steps[@]}"; do
  echo "== deploy/$step.sh inside the fresh root (log: $work/$step.log)"
  t0=$(date +%s)
  # A clean environment, as a root login on a new machine has it (and this network's CA).
  # shellcheck disable=SC2086
  if chroot "$target" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
       PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${ca_env[@]}" ${MASH_FRESH_ENV:-} \
       bash -c "cd /root/mash-exchange && deploy/$step.sh" < /dev/null > "$work/$step.log" 2>&1; then
    result=passed
  else
    result="FAILED (exit $?)"; status=1
    tail -30 "$work/$step.log"
  fi
  summary+=("deploy/$step.sh: $result in $(elapsed "$t0") s")
  echo "   $result"
done
node=$(chroot "$target" node --version 2>/dev/null || echo none)
npm=$(chroot "$target" npm --version 2>/dev/null || echo none)
summary+=("inside: Debian $(cat "$target/etc/debian_version"), node $node, npm $npm, $(chroot "$target" dpkg-query -f '.\n' -W | wc -l) packages")
[ "${steps[0]}" != demo ] || summary+=("demo: $(grep -oE '^  (police|health|education|probation|housing) ' "$work/demo.log" | sort -u | wc -l) agents listed as connected; $(grep -m1 'audit trail after the enquiry' "$work/demo.log" | sed 's/^ *//' || echo 'no audit check found')")
[ "${steps[-1]}" != test ] || summary+=("tests: $(grep -E '[0-9]+% tests passed' "$work/test.log" | tr '\n' ';' || echo 'no ctest summary')")

echo
echo "== fresh Debian 12 check, $(date -u +%Y-%m-%dT%H:%MZ), commit $commit${MASH_FRESH_ENV:+, with $MASH_FRESH_ENV}"
printf '   %s\n' "${summary[@]}"
exit $status
