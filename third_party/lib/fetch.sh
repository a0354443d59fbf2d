# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034
# fetch.sh - fetching for the third_party recipes: pinned tarballs (upstream, then Debian's
# source archive) and the cross sysroots, through private apt configurations.
#
# Sourced after common.sh. Not part of the recipe hash: what it fetches is checked by sha256
# (tarballs) or recorded in the sysroot's manifest.txt, which is part of the hash.

# Debian's archive, used only when an upstream URL cannot be reached.
TW_DEBIAN_URI=${TW_DEBIAN_URI:-http://deb.debian.org/debian}
TW_DEBIAN_SECURITY_URI=${TW_DEBIAN_SECURITY_URI:-http://deb.debian.org/debian-security}
TW_DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# Suites of the cross sysroots: the same release as the build machine (bookworm).
TW_SYSROOT_SUITES="bookworm bookworm-updates"
TW_SYSROOT_SECURITY_SUITES="bookworm-security"
# Target-architecture packages unpacked into a cross sysroot.
# libinih (static, the agent's config parser) and jsmn (header-only JSON; Architecture: all)
# are for the agent itself, so find_library/find_path in ONLY mode find the target's copies.
TW_SYSROOT_PACKAGES="libssl-dev libssl3 zlib1g-dev zlib1g libzstd-dev libzstd1 libinih-dev libinih1 libjsmn-dev"

# tw_apt_dir NAME - create a private apt configuration under the cache; prints its folder.
# The system's /etc/apt sources, lists and dpkg status are never read or changed.
tw_apt_dir() {
    local d=$TW_CACHE/apt/$1
    mkdir -p "$d/etc/sources.list.d" "$d/etc/preferences.d" "$d/lists/partial" \
        "$d/cache/archives/partial"
    : >"$d/etc/sources.list"
    [ -f "$d/status" ] || : >"$d/status"
    printf '%s\n' "$d"
}

# tw_apt DIR ARGS... - apt-get with the private configuration in DIR.
tw_apt() {
    local d=$1; shift
    apt-get -q \
        -o Dir::Etc::sourcelist="$d/etc/sources.list" \
        -o Dir::Etc::sourceparts="$d/etc/sources.list.d" \
        -o Dir::Etc::preferences="$d/etc/preferences" \
        -o Dir::Etc::preferencesparts="$d/etc/preferences.d" \
        -o Dir::State::Lists="$d/lists" \
        -o Dir::State::status="$d/status" \
        -o Dir::Cache="$d/cache" \
        -o Acquire::Languages=none \
        -o APT::Sandbox::User=root \
        -o DPkg::Lock::Timeout=600 \
        "${TW_APT_EXTRA[@]}" "$@"
}
tw_apt_cache() {
    local d=$1; shift
    apt-cache \
        -o Dir::Etc::sourcelist="$d/etc/sources.list" \
        -o Dir::Etc::sourceparts="$d/etc/sources.list.d" \
        -o Dir::State::Lists="$d/lists" \
        -o Dir::State::status="$d/status" \
        -o Dir::Cache="$d/cache" \
        "${TW_APT_EXTRA[@]}" "$@"
}
TW_APT_EXTRA=()

# tw_fetch_source - put the recipe's verified tarball in the downloads folder.
# Uses the recipe variables TW_RECIPE_{TARBALL,SHA256,UPSTREAM_URL,DEB_PKG,DEB_VERSION,DEB_SUITE}.
# Tries the upstream URL (short time-out), then Debian's source archive; fails with one line.
tw_fetch_source() {
    local dl=$TW_CACHE/downloads file tried=() log tmp got
    file=$dl/$TW_RECIPE_TARBALL
    mkdir -p "$dl"
    if [ -f "$file" ] && [ "$(tw_sha256 "$file")" = "$TW_RECIPE_SHA256" ]; then
        return 0
    fi
    rm -f "$file"
    log=$TW_CACHE/logs/fetch-$TW_RECIPE_NAME.log
    mkdir -p "$TW_CACHE/logs"
    : >"$log"
    tmp=$(mktemp -d "$dl/.fetch.XXXXXX")

    # 1. Upstream release URL, short time-out.
    if [ -n "$TW_RECIPE_UPSTREAM_URL" ] && [ "${TW_SKIP_UPSTREAM:-0}" != 1 ]; then
        tw_log "fetching $TW_RECIPE_UPSTREAM_URL"
        if curl -fsSL --connect-timeout 5 --max-time "${TW_UPSTREAM_TIMEOUT:-10}" \
            -o "$tmp/upstream" "$TW_RECIPE_UPSTREAM_URL" >>"$log" 2>&1; then
            got=$(tw_sha256 "$tmp/upstream")
            if [ "$got" = "$TW_RECIPE_SHA256" ]; then
                mv "$tmp/upstream" "$file"
                rm -rf "$tmp"
                tw_log "verified $TW_RECIPE_TARBALL (upstream)"
                return 0
            fi
            tried+=("upstream $TW_RECIPE_UPSTREAM_URL (sha256 $got, not the pinned one)")
        else
            tried+=("upstream $TW_RECIPE_UPSTREAM_URL (unreachable within ${TW_UPSTREAM_TIMEOUT:-10}s)")
        fi
    fi

    # 2. Debian's source archive through a private deb-src configuration.
    if tw_fetch_debian_source "$tmp" "$log"; then
        mv "$TW_FETCH_DEBIAN_PATH" "$file"
        rm -rf "$tmp"
        tw_log "verified $TW_RECIPE_TARBALL (Debian $TW_RECIPE_DEB_SUITE source archive)"
        return 0
    fi
    tried+=("$TW_FETCH_DEBIAN_RESULT")
    rm -rf "$tmp"
    local joined t
    joined=${tried[0]}
    for t in "${tried[@]:1}"; do joined+="; then $t"; done
    printf 'third_party: cannot fetch %s (sha256 %s): tried %s; see %s\n' \
        "$TW_RECIPE_TARBALL" "$TW_RECIPE_SHA256" "$joined" "$log" >&2
    exit 1
}

# tw_fetch_debian_source TMPDIR LOG - apt-get source --download-only; sets TW_FETCH_DEBIAN_PATH
# to the verified tarball, or TW_FETCH_DEBIAN_RESULT to what was tried and returns 1.
tw_fetch_debian_source() {
    local tmp=$1 log=$2 d want upstream alt got
    TW_FETCH_DEBIAN_RESULT="Debian deb-src $TW_RECIPE_DEB_SUITE apt-get source $TW_RECIPE_DEB_PKG=$TW_RECIPE_DEB_VERSION"
    command -v dpkg-source >/dev/null || {
        TW_FETCH_DEBIAN_RESULT+=" (dpkg-dev missing: run scripts/bootstrap.sh)"
        return 1
    }
    d=$(tw_apt_dir "src-$TW_RECIPE_DEB_SUITE")
    cat >"$d/etc/sources.list.d/debian-src.sources" <<EOF
Types: deb-src
URIs: $TW_DEBIAN_URI
Suites: $TW_RECIPE_DEB_SUITE
Components: main
Signed-By: $TW_DEBIAN_KEYRING
EOF
    want=$TW_RECIPE_DEB_VERSION
    # A fresh index first when there is none; another after a failure, in case it was stale.
    local attempt
    for attempt in 1 2; do
        if [ "$attempt" = 2 ] || ! ls "$d/lists/"*_source_Sources* >/dev/null 2>&1; then
            tw_log "updating the private deb-src index ($TW_RECIPE_DEB_SUITE)"
            # apt-get update may exit 0 when a source is unreachable: look for the index itself.
            if ! tw_apt "$d" update >>"$log" 2>&1 || ! ls "$d/lists/"*_source_Sources* >/dev/null 2>&1; then
                TW_FETCH_DEBIAN_RESULT+=" (its index could not be downloaded from $TW_DEBIAN_URI)"
                return 1
            fi
        fi
        tw_log "apt-get source --download-only $TW_RECIPE_DEB_PKG=$want"
        if (cd "$tmp" && tw_apt "$d" source --download-only "$TW_RECIPE_DEB_PKG=$want") >>"$log" 2>&1; then
            break
        fi
        # The pinned Debian revision may be gone: take the current one with the same upstream version.
        upstream=${TW_RECIPE_DEB_VERSION%-*}
        upstream=${upstream#*:}
        alt=$(tw_apt_cache "$d" showsrc "$TW_RECIPE_DEB_PKG" 2>>"$log" |
            sed -n 's/^Version: //p' |
            while read -r v; do
                u=${v%-*}; u=${u#*:}
                [ "$u" = "$upstream" ] && printf '%s\n' "$v"
            done | sort -V | tail -n1)
        if [ -n "$alt" ] && [ "$alt" != "$want" ]; then
            tw_log "warning: Debian revision $TW_RECIPE_DEB_PKG=$want is gone from $TW_RECIPE_DEB_SUITE; using $alt (same upstream tarball, sha256 still checked)"
            want=$alt
            if (cd "$tmp" && tw_apt "$d" source --download-only "$TW_RECIPE_DEB_PKG=$want") >>"$log" 2>&1; then
                break
            fi
        fi
        if [ "$attempt" = 2 ]; then
            TW_FETCH_DEBIAN_RESULT+=" (failed: $(grep -E '^E:' "$log" | tail -n1 | cut -c4-120)${alt:+; also tried $alt})"
            return 1
        fi
    done
    got=$tmp/$TW_RECIPE_TARBALL
    if [ ! -f "$got" ]; then
        TW_FETCH_DEBIAN_RESULT+=" (downloaded, but no $TW_RECIPE_TARBALL in it)"
        return 1
    fi
    if [ "$(tw_sha256 "$got")" != "$TW_RECIPE_SHA256" ]; then
        TW_FETCH_DEBIAN_RESULT+=" (sha256 $(tw_sha256 "$got"), not the pinned one)"
        return 1
    fi
    TW_FETCH_DEBIAN_PATH=$got
}

# tw_sysroot_ensure - for a cross target, unpack the target's -dev packages into a cached sysroot.
# Sets TW_SYSROOT. The packages come from a private apt configuration of the target architecture.
# Debian's mirror is at times inconsistent for one suite's index (seen for bookworm-security
# armhf): then the sysroot is made from the suites that did download, named *-partial, with a
# warning, and a complete one is tried again after an hour. manifest.txt lists the exact .deb
# versions; it is part of every recipe hash, so a new sysroot rebuilds the libraries.
tw_sysroot_ensure() {
    [ "$TW_CROSS" = 1 ] || return 0
    local spec key full partial d log try ok=0
    spec="arch=$TW_DEB_ARCH suites=$TW_SYSROOT_SUITES security=$TW_SYSROOT_SECURITY_SUITES packages=$TW_SYSROOT_PACKAGES"
    key=$(tw_sha256_str "$spec" | cut -c1-12)
    full=$TW_CACHE/sysroot/$TW_TARGET-$key
    partial=$full-partial
    TW_SYSROOT=$full
    [ -f "$full/manifest.txt" ] && return 0
    if [ -f "$partial/manifest.txt" ] && [ -n "$(find "$partial/.checked" -mmin -60 2>/dev/null)" ]; then
        tw_log "warning: using the partial sysroot $partial (see its manifest.txt)"
        TW_SYSROOT=$partial
        return 0
    fi

    log=$TW_CACHE/logs/sysroot-$TW_TARGET.log
    mkdir -p "$TW_CACHE/logs" "$TW_CACHE/sysroot"
    : >"$log"
    tw_log "making the $TW_DEB_ARCH sysroot ($TW_SYSROOT_PACKAGES)"
    d=$(tw_apt_dir "deb-$TW_DEB_ARCH")
    cat >"$d/etc/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $TW_DEBIAN_URI
Suites: $TW_SYSROOT_SUITES
Components: main
Architectures: $TW_DEB_ARCH
Signed-By: $TW_DEBIAN_KEYRING

Types: deb
URIs: $TW_DEBIAN_SECURITY_URI
Suites: $TW_SYSROOT_SECURITY_SUITES
Components: main
Architectures: $TW_DEB_ARCH
Signed-By: $TW_DEBIAN_KEYRING
EOF
    TW_APT_EXTRA=(-o APT::Architecture="$TW_DEB_ARCH" -o APT::Architectures="$TW_DEB_ARCH")
    for try in 1 2; do
        if tw_apt "$d" update >>"$log" 2>&1; then ok=1; break; fi
        [ "$try" = 2 ] || sleep 5
    done
    if [ "$ok" = 1 ]; then
        tw_sysroot_make "$full" "$d" "$log"
        TW_SYSROOT=$full
        rm -rf "$partial"
    else
        ls "$d/lists/"*"_dists_${TW_SYSROOT_SUITES%% *}_main_binary-${TW_DEB_ARCH}_Packages"* >/dev/null 2>&1 ||
            tw_die "cannot download the $TW_DEB_ARCH package index of Debian ${TW_SYSROOT_SUITES%% *} (see $log)"
        tw_log "warning: some $TW_DEB_ARCH package indexes failed to download (mirror sync in progress?):"
        grep -E '^E:' "$log" | head -n 2 | cut -c1-160 | sed 's/^/    /' >&2
        if [ ! -f "$partial/manifest.txt" ]; then
            tw_sysroot_make "$partial" "$d" "$log"
        fi
        touch "$partial/.checked"
        tw_log "warning: using the partial sysroot $partial, made from the indexes that did download; a complete one is tried again in an hour"
        TW_SYSROOT=$partial
    fi
    TW_APT_EXTRA=()
}

# tw_sysroot_make DIR APTDIR LOG - download the sysroot packages and unpack them into DIR (atomic).
tw_sysroot_make() {
    local dir=$1 d=$2 log=$3 tmp deb link target
    tmp=$(mktemp -d "$TW_CACHE/sysroot/.tmp-$TW_TARGET.XXXXXX")
    mkdir -p "$tmp/debs" "$tmp/root"
    # shellcheck disable=SC2086
    if ! (cd "$tmp/debs" && tw_run "$log" tw_apt "$d" download $TW_SYSROOT_PACKAGES); then
        rm -rf "$tmp"
        tw_die "cannot download the $TW_DEB_ARCH packages $TW_SYSROOT_PACKAGES (see $log)"
    fi
    for deb in "$tmp"/debs/*.deb; do
        tw_run "$log" dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; tw_die "cannot unpack $deb"; }
        printf '%s %s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" \
            "$(tw_sha256 "$deb")" >>"$tmp/root/manifest.txt"
    done
    # Debian's -dev symlinks may be absolute (/lib/...): make them relative to the sysroot.
    while IFS= read -r link; do
        target=$(readlink "$link")
        case "$target" in
        /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp/root$target")" "$link" ;;
        esac
    done < <(find "$tmp/root" -type l)
    rm -rf "$dir"
    mv -T "$tmp/root" "$dir"
    rm -rf "$tmp"
    tw_log "sysroot ready: $dir"
    cut -d' ' -f1-2 "$dir/manifest.txt" | sed 's/^/    /' >&2
}

