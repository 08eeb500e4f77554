#!/usr/bin/env bash
# Builds PACT's images from static binaries built on this machine, with
# buildah and no registry: the Dockerfile's `prebuilt` target, one image per
# function plus the `pact` tool, tagged localhost/<name>:${PACT_IMAGE_TAG:-dev}
# (the names knative/overlays/kind deploys).
#
#   scripts/images.sh                      # all six
#   scripts/images.sh translation query    # some
#   scripts/images.sh --binaries           # only the static binaries, no images
#                                          # (benches/peers.sh measures them)
#
# Static glibc (static-pie) binaries run on `scratch`; they are built for the
# host's architecture into target/<arch>-unknown-linux-gnu/release and staged
# as dist/<function>, the build context of the `prebuilt` target.
set -euo pipefail
cd "$(dirname "$0")/.."

binaries_only=false
if [ "${1:-}" = --binaries ]; then binaries_only=true; shift; fi
tag="${PACT_IMAGE_TAG:-dev}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
target="$(uname -m)-unknown-linux-gnu"
if [ "$#" -gt 0 ]; then functions=("$@"); else functions=(producer translation contactlog query notify cli); fi

binary_of() {
  case "$1" in
    producer | translation | contactlog | query | notify) echo "pact-$1" ;;
    cli) echo pact ;;
    *) echo "unknown function '$1' (producer, translation, contactlog, query, notify, cli)" >&2; return 1 ;;
  esac
}

# The functions and the CLI are built apart, as the Dockerfile builds each
# image on its own: cargo unifies features within one build, and the CLI's
# (kube, plotters, more of sqlx and reqwest) would otherwise grow the functions.
function_packages=()
cli_packages=()
for f in "${functions[@]}"; do
  if [ "$f" = cli ]; then cli_packages+=(-p pact); else function_packages+=(-p "$(binary_of "$f")"); fi
done
for packages in "${function_packages[*]}" "${cli_packages[*]}"; do
  [ -n "$packages" ] || continue
  # shellcheck disable=SC2086 # the -p flags, split on purpose
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target "$target" $packages --bins
done

if "$binaries_only"; then
  for f in "${functions[@]}"; do echo "target/$target/release/$(binary_of "$f")"; done
  exit 0
fi

rm -rf dist
mkdir dist
for f in "${functions[@]}"; do
  binary="$(binary_of "$f")"
  cp "target/$target/release/$binary" "dist/$f"
  buildah bud --quiet --target prebuilt \
    --build-arg FUNCTION="$f" --build-arg VERSION="$version" \
    -t "localhost/$binary:$tag" -f Dockerfile dist >/dev/null
  echo "localhost/$binary:$tag"
done
