#!/usr/bin/env bash
# tools/pki.sh - a small certificate authority for the mutual TLS between yw-gateway and
# the services, for ./dev up and the tests (not for production: see deploy/README.md).
# EC P-256 keys, SHA-256 signatures; keys are written readable by their owner only.
#
#   tools/pki.sh ca DIR                     DIR/ca.crt, DIR/ca.key (a CA, 10 years)
#   tools/pki.sh server DIR NAME [SAN]      DIR/NAME.crt, DIR/NAME.key: a server
#                                           certificate (serverAuth) signed by DIR/ca,
#                                           SAN "DNS:localhost,IP:127.0.0.1" unless given
#   tools/pki.sh client DIR NAME            DIR/NAME.crt, DIR/NAME.key: a client
#                                           certificate (clientAuth) signed by DIR/ca
#   tools/pki.sh dev DIR                    what ./dev up uses: the CA, identity.crt,
#                                           catalog.crt and feed.crt (servers),
#                                           gateway.crt (client)
#
# Files that exist are kept, so running it again changes nothing; delete a file to make
# it again (deleting DIR/ca.* means making every certificate again).
set -euo pipefail

DAYS_CA=3650
DAYS_LEAF=825

die() { printf 'pki.sh: %s\n' "$*" >&2; exit 1; }

make_ca() { # make_ca DIR
  local dir="$1"
  mkdir -p "$dir"
  [ -f "$dir/ca.crt" ] && [ -f "$dir/ca.key" ] && return 0
  (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key")
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$DAYS_CA" \
    -subj "/O=yiwang/CN=yiwang services CA $(basename "$(cd "$dir" && pwd)")" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.crt" 2>/dev/null
}

make_leaf() { # make_leaf DIR NAME serverAuth|clientAuth [SAN]
  local dir="$1" name="$2" usage="$3" san="${4:-}"
  [ -f "$dir/ca.crt" ] && [ -f "$dir/ca.key" ] || die "no CA in $dir (tools/pki.sh ca $dir)"
  [ -f "$dir/$name.crt" ] && [ -f "$dir/$name.key" ] && return 0
  (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key")
  local ext; ext="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -key "$dir/$name.key" -subj "/O=yiwang/CN=$name" 2>/dev/null |
    openssl x509 -req -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -sha256 -days "$DAYS_LEAF" -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$ext"
}

case "${1:-}" in
  ca) [ $# = 2 ] || die "usage: tools/pki.sh ca DIR"; make_ca "$2" ;;
  server)
    [ $# -ge 3 ] && [ $# -le 4 ] || die "usage: tools/pki.sh server DIR NAME [SAN]"
    make_leaf "$2" "$3" serverAuth "${4:-DNS:localhost,IP:127.0.0.1}" ;;
  client) [ $# = 3 ] || die "usage: tools/pki.sh client DIR NAME"; make_leaf "$2" "$3" clientAuth ;;
  dev)
    [ $# = 2 ] || die "usage: tools/pki.sh dev DIR"
    make_ca "$2"
    make_leaf "$2" identity serverAuth "DNS:localhost,IP:127.0.0.1"
    make_leaf "$2" catalog serverAuth "DNS:localhost,IP:127.0.0.1"
    make_leaf "$2" feed serverAuth "DNS:localhost,IP:127.0.0.1"
    make_leaf "$2" gateway clientAuth ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
