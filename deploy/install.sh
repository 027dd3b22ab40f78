#!/usr/bin/env bash
# Installs ssinet on this node: ssinetd, cvipctl, ssi-exec, the LD_PRELOAD library, the systemd
# unit and example configurations. Idempotent: a file whose content is already in place is not
# touched, so a second run changes nothing. An operator's /etc files are never overwritten; when
# one exists and differs from the example, the example goes beside it as FILE.example.
#
#   deploy/install.sh                      build with cargo --release, install under /usr
#   deploy/install.sh --from DIR           install prebuilt binaries from DIR
#   deploy/install.sh --destdir /tmp/root  stage into a directory (packaging, tests)
#   deploy/install.sh --uninstall          remove what install put in place (keeps /etc and data)
#
# It neither enables nor starts ssinetd: the node's clustertab, cvip.conf and TLS files must be in
# place first (see deploy/README.md).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: install.sh [--prefix DIR] [--destdir DIR] [--from DIR] [--uninstall] [--quiet]

  --prefix DIR    installation prefix for binaries, library, unit and docs (default /usr)
  --destdir DIR   stage everything under DIR instead of / (packaging, tests); no systemctl
  --from DIR      take ssinetd, cvipctl, ssi-exec and libssinet_preload.so from DIR
                  (default: build them with `cargo build --release` in this source tree)
  --uninstall     remove the installed binaries, library, unit and docs; /etc files, TLS keys
                  and /var/lib/ssinet stay
  --quiet         print only changes and warnings
EOF
}

prefix=/usr
destdir=
from=
uninstall=0
quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
    --from) from=${2:?--from needs a directory}; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$prefix" in
  /*) ;;
  *) echo "install.sh: --prefix must be an absolute path, not '$prefix'" >&2; exit 2 ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/usr
if [ -n "$destdir" ]; then
  mkdir -p "$destdir"
  destdir=$(cd "$destdir" && pwd)
fi

source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bindir=$prefix/bin
libdir=$prefix/lib/ssinet
# systemd reads units from /usr/lib/systemd/system and /usr/local/lib/systemd/system alike.
unitdir=$prefix/lib/systemd/system
docdir=$prefix/share/doc/ssinet
changes=0

say() { [ "$quiet" = 1 ] || echo "$*"; }
warn() { echo "install.sh: warning: $*" >&2; }
die() { echo "install.sh: $*" >&2; exit 1; }

# put SRC DEST MODE: installs SRC as $destdir/DEST unless DEST already has the same content and
# mode. Directories on the way are created 0755.
put() {
  local src=$1 dest=$destdir$2 mode=$3
  if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    say "unchanged  $2"
    return
  fi
  install -D -m "$mode" "$src" "$dest.ssinet-new"
  mv -f "$dest.ssinet-new" "$dest"
  changes=$((changes + 1))
  echo "installed  $2"
}

# put_config SRC DEST: an operator-owned file under /etc. Installed when absent; left alone when
# it holds the same text; otherwise the example goes beside it as DEST.example.
put_config() {
  local src=$1 dest=$2
  if [ ! -e "$destdir$dest" ]; then
    put "$src" "$dest" 0644
  elif cmp -s "$src" "$destdir$dest"; then
    say "unchanged  $dest"
  else
    say "kept       $dest (yours; the shipped example is $dest.example)"
    put "$src" "$dest.example" 0644
  fi
}

# put_dir DIR MODE: creates $destdir/DIR with MODE, or fixes the mode.
put_dir() {
  local dir=$destdir$1 mode=$2
  if [ -d "$dir" ] && [ "$(stat -c %a "$dir")" = "${mode#0}" ]; then
    return
  fi
  install -d -m "$mode" "$dir"
  changes=$((changes + 1))
  echo "created    $1/ (mode $mode)"
}

remove() {
  if [ -e "$destdir$1" ] || [ -L "$destdir$1" ]; then
    rm -f "$destdir$1"
    changes=$((changes + 1))
    echo "removed    $1"
  fi
}

systemd_running() { [ -z "$destdir" ] && [ -d /run/systemd/system ]; }

if [ "$uninstall" = 1 ]; then
  if systemd_running && systemctl is-active --quiet ssinetd; then
    die "ssinetd is running; stop it first (systemctl disable --now ssinetd): this node then leaves the cluster"
  fi
  for file in "$bindir/ssinetd" "$bindir/cvipctl" "$bindir/ssi-exec" "$libdir/ssi-exec" "$libdir/libssinet_preload.so" \
    "$unitdir/ssinetd.service" "$docdir/README.deploy.md"; do
    remove "$file"
  done
  rm -rf "${destdir:?}$docdir/examples"
  rmdir "$destdir$libdir" "$destdir$docdir" 2>/dev/null || true
  if systemd_running; then systemctl daemon-reload; fi
  echo "uninstalled ($changes removed); kept /etc/clustertab, /etc/cvip.conf, /etc/default/ssinetd, /etc/ssinet and /var/lib/ssinet"
  exit 0
fi

# --- the binaries: prebuilt or built here ---
if [ -z "$from" ]; then
  [ -f "$source_dir/Cargo.toml" ] || die "no --from DIR given and $source_dir is not the ssinet source tree"
  command -v cargo >/dev/null || die "no --from DIR given and cargo is not installed; install Rust (https://rustup.rs) or pass --from DIR with prebuilt binaries"
  packages=(-p ssinet-agent -p cvipctl)
  # ssi-exec and the preload library live in their own crates; build them when this tree has them.
  [ -f "$source_dir/crates/rsock/Cargo.toml" ] && packages+=(-p ssinet-rsock)
  [ -f "$source_dir/crates/preload/Cargo.toml" ] && packages+=(-p ssinet-preload)
  say "building: cargo build --release --locked ${packages[*]}"
  (cd "$source_dir" && cargo build --release --locked "${packages[@]}")
  from=${CARGO_TARGET_DIR:-$source_dir/target}/release
fi
[ -d "$from" ] || die "--from $from: no such directory"
for required in ssinetd cvipctl; do
  [ -x "$from/$required" ] || die "$from/$required is missing or not executable; build it with: cargo build --release -p ${required/ssinetd/ssinet-agent}"
done

put "$from/ssinetd" "$bindir/ssinetd" 0755
put "$from/cvipctl" "$bindir/cvipctl" 0755
missing=()
if [ -x "$from/ssi-exec" ]; then
  # ssi-exec finds the preload library beside its executable: the binary goes into $libdir,
  # a wrapper onto PATH.
  put "$from/ssi-exec" "$libdir/ssi-exec" 0755
  wrapper_tmp=$(mktemp)
  sed "s|/usr/lib/ssinet/|$libdir/|" "$source_dir/deploy/ssi-exec.wrapper" >"$wrapper_tmp"
  put "$wrapper_tmp" "$bindir/ssi-exec" 0755
  rm -f "$wrapper_tmp"
else
  missing+=("ssi-exec (crates/rsock)")
fi
if [ -f "$from/libssinet_preload.so" ]; then
  put "$from/libssinet_preload.so" "$libdir/libssinet_preload.so" 0644
else
  missing+=("libssinet_preload.so (crates/preload)")
fi

# --- the unit; its paths follow --prefix ---
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed "s|/usr/bin/ssinetd|$bindir/ssinetd|" "$source_dir/deploy/ssinetd.service" >"$unit_tmp"
unit_changes=$changes
put "$unit_tmp" "$unitdir/ssinetd.service" 0644
unit_changed=$((changes - unit_changes))

# --- docs and examples ---
put "$source_dir/deploy/README.md" "$docdir/README.deploy.md" 0644
for example in dr/clustertab dr/cvip.conf nat/clustertab nat/cvip.conf nat/lvs_routing; do
  put "$source_dir/conf/$example" "$docdir/examples/$example" 0644
done

# --- /etc: the operator's from now on ---
put_config "$source_dir/conf/dr/clustertab" /etc/clustertab
put_config "$source_dir/conf/dr/cvip.conf" /etc/cvip.conf
put_config "$source_dir/deploy/ssinetd.default" /etc/default/ssinetd
put_dir /etc/ssinet 0755
# node.key lives here: root only.
put_dir /etc/ssinet/tls 0700

if systemd_running && [ "$unit_changed" -gt 0 ]; then
  systemctl daemon-reload
  say "systemctl daemon-reload (the unit changed)"
fi

for item in "${missing[@]}"; do
  warn "not installed: $item was not found in $from; remote sockets (ssi-exec) will not work on this node until it is built and install.sh runs again"
done
if [ "$changes" -eq 0 ]; then
  say "nothing to do: everything is already installed"
else
  say "done: $changes change(s) under ${destdir:-/}"
fi
if [ -z "$destdir" ] && [ ! -f /etc/ssinet/tls/node.pem ]; then
  say "next: put this node's ca.pem, node.pem and node.key (from cvipctl pki init) into /etc/ssinet/tls,"
  say "      edit /etc/clustertab and /etc/cvip.conf, check them with 'cvipctl config check',"
  say "      then: systemctl enable --now --no-block ssinetd"
fi
