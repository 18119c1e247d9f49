#!/usr/bin/env bash
# Install the docker compose v2 CLI plugin for the current user, idempotently.
#
# No container registry or GitHub release is reachable from our build hosts, only Debian's
# archive, so the plugin comes from Debian's docker-compose package (trixie: 2.26.1, needs
# only libc6 >= 2.34, works with Engine 20.10). apt runs with a throwaway configuration,
# so the host's sources, lists and caches are neither read nor changed.
#
# Environment:
#   DOCKER_CONFIG                 where the docker CLI looks for plugins (default ~/.docker)
#   ATHALIA_COMPOSE_DEBIAN_SUITE  Debian suite to take the package from (default trixie)
#   ATHALIA_DEBIAN_MIRROR         Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

suite="${ATHALIA_COMPOSE_DEBIAN_SUITE:-trixie}"
mirror="${ATHALIA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
plugin="$plugin_dir/docker-compose"

step() { printf 'install-compose-v2: %s\n' "$*"; }
die() { printf 'install-compose-v2: error: %s\n' "$*" >&2; exit 1; }

# Prints the version if `docker compose` is v2 or later, else fails.
compose_v2_version() {
    local version
    version="$(docker compose version --short 2>/dev/null)" || return 1
    version="${version#v}"
    [[ "${version%%.*}" =~ ^[0-9]+$ ]] && (( ${version%%.*} >= 2 )) || return 1
    printf '%s\n' "$version"
}

command -v docker >/dev/null 2>&1 \
    || die "the docker CLI is not installed; install docker.io (or docker-ce) first"

if version="$(compose_v2_version)"; then
    step "docker compose $version already answers v2; nothing to do"
    exit 0
fi

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "$tool is not installed; this script needs a Debian or Ubuntu host (apt-get and dpkg-deb)." \
               "Elsewhere, install the compose v2 plugin by hand into $plugin"
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/empty.d" "$tmp/download" "$tmp/root"
printf 'deb %s %s main\n' "$mirror" "$suite" >"$tmp/sources.list"
: >"$tmp/status"

# Only our own sources, lists, caches, (no) pinning and an empty dpkg status, so neither the host's
# apt setup nor its installed compose v1 package can change what is fetched.
apt_opts=(
    -q
    -o "Dir::Etc::SourceList=$tmp/sources.list"
    -o "Dir::Etc::SourceParts=$tmp/empty.d"
    -o "Dir::Etc::Preferences=$tmp/no-preferences"
    -o "Dir::Etc::PreferencesParts=$tmp/empty.d"
    -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache"
    -o "Dir::State::status=$tmp/status"
    # mktemp's 0700 dir is unreadable for the _apt sandbox user; downloading as ourselves is fine here.
    -o "APT::Sandbox::User=$(id -un)"
)

step "fetching the $suite package index from $mirror"
# --error-on=any: apt-get update otherwise exits 0 when the mirror cannot be reached.
apt-get "${apt_opts[@]}" --error-on=any update >"$tmp/apt-update.log" 2>&1 \
    || { tail -n 5 "$tmp/apt-update.log" >&2; die "apt-get update for $suite at $mirror failed (is the mirror reachable?)"; }

step "downloading the docker-compose package"
(cd "$tmp/download" && apt-get "${apt_opts[@]}" download docker-compose) >"$tmp/apt-download.log" 2>&1 \
    || { tail -n 5 "$tmp/apt-download.log" >&2; die "apt-get download docker-compose from $suite failed"; }
deb="$(find "$tmp/download" -maxdepth 1 -name 'docker-compose_*.deb' -print -quit)"
[[ -n "$deb" ]] || die "apt-get download reported success but left no docker-compose_*.deb"
step "downloaded $(basename "$deb")"

step "extracting the compose plugin"
dpkg-deb -x "$deb" "$tmp/root"
src="$tmp/root/usr/libexec/docker/cli-plugins/docker-compose"
[[ -x "$src" ]] || die "$(basename "$deb") has no usr/libexec/docker/cli-plugins/docker-compose; the package layout changed"

step "installing $plugin"
install -D -m 0755 "$src" "$plugin"

version="$(compose_v2_version)" \
    || die "installed $plugin but \`docker compose version\` does not answer v2:" \
           "$(docker compose version 2>&1 | tail -n 3)"
step "docker compose $version is ready"
